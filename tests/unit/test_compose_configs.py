"""The configs compose mounts, rendered from stack/config/ as ComposeStack renders them, checked by
the tools that will read them (nginx -t, promtool, amtool) or parsed and inspected."""
from __future__ import annotations

import configparser
import json
import re
import shutil
import subprocess

import pytest
import yaml

from analysis.settings import REPO
from analysis.stack.compose import COMPOSE_FILE

PATTERNS = ("redis-cache", "redis-ratelimit", "redis-pubsub", "redis-sessions", "correlated-alerts",
            "auto-remediation", "grafana-embed", "truthsync-l2", "celery-metrics", "pg-audit", "nginx-metrics")
WORKFLOWS = sorted((REPO / "stack" / "n8n" / "workflows").glob("*.json"))


def _tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        pytest.fail(f"{name} is not installed: run stack/local/install-deps.sh")
    return path


def _run(argv: list[str]) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"{' '.join(argv)}:\n{result.stdout}\n{result.stderr}"
    return result


def test_every_rendered_yaml_and_json_file_parses(rendered):
    files = [p for p in rendered.rglob("*") if p.suffix in {".yml", ".yaml", ".json"}]
    for path in files:
        (json.loads if path.suffix == ".json" else yaml.safe_load)(path.read_text())
    assert len(files) >= 15


def test_nginx_accepts_the_compose_config(rendered, tmp_path):
    """nginx -t in a private mount namespace, where the container's paths and hostnames exist."""
    nginx = _tool("nginx")
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n127.0.0.2 api truthsync nginx\n")
    script = ("mount -t tmpfs tmpfs /var && mkdir -p /var/log/sentinel /var/cache/nginx /var/log/nginx && "
              f"mount --bind {hosts} /etc/hosts && {nginx} -t -c {rendered}/nginx/nginx.conf")
    result = _run(["unshare", "--mount", "sh", "-c", script])
    assert "test is successful" in result.stderr


def test_promtool_accepts_the_compose_prometheus_config_and_rules(rendered, tmp_path):
    promtool = _tool("promtool")
    config = tmp_path / "prometheus.yml"
    config.write_text((rendered / "prometheus/prometheus.yml").read_text().replace("/etc/sentinel", str(rendered)))
    result = _run([promtool, "check", "config", str(config)])
    assert "SUCCESS" in result.stdout and "rules" in result.stdout
    _run([promtool, "check", "rules", *map(str, sorted((rendered / "prometheus/rules").glob("*.yml")))])


def test_prometheus_scrapes_every_metrics_endpoint_by_compose_hostname(rendered):
    config = yaml.safe_load((rendered / "prometheus/prometheus.yml").read_text())
    targets = {t for job in config["scrape_configs"] for sc in job.get("static_configs", []) for t in sc["targets"]}
    assert {"api:8000", "loki:3100", "alloy:12345", "grafana:3000",
            "redis-exporter:9121", "nginx-exporter:9113"} <= targets
    assert not any(t.startswith("127.0.0.1") for t in targets)
    # TruthSync replicas share one name: every replica is found by DNS, not just the first answer
    truthsync = next(job for job in config["scrape_configs"] if job["job_name"] == "truthsync")
    assert truthsync["dns_sd_configs"] == [{"names": ["truthsync"], "type": "A", "port": 8000,
                                             "refresh_interval": "15s"}]


def test_compose_alertmanager_knows_both_webhooks(rendered):
    config = yaml.safe_load((rendered / "alertmanager/alertmanager.yml").read_text())
    urls = {r["name"]: r["webhook_configs"][0]["url"] for r in config["receivers"]}
    assert urls == {"remediator": "http://remediator:8000/alerts", "n8n": "http://n8n:5678/webhook/sentinel-alerts"}


def test_amtool_accepts_the_compose_alertmanager_config(rendered):
    result = _run([_tool("amtool"), "check-config", str(rendered / "alertmanager/alertmanager.yml")])
    assert "SUCCESS" in result.stdout
    assert "http://remediator:8000/alerts" in (rendered / "alertmanager/alertmanager.yml").read_text()


def test_no_prometheus_rule_contains_logql_and_the_loki_ruler_holds_it(rendered):
    logql = re.compile(r"\{[^}]*\}\s*(\|=|!=|\|~|!~|\|\s*json|\|\s*logfmt)|rate\(\{")
    for path in (rendered / "prometheus/rules").glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                assert not logql.search(rule["expr"]), f"{path.name}: LogQL in a Prometheus rule: {rule['expr']}"
    loki_rules = [r for p in (rendered / "loki/rules").rglob("*.yml")
                  for g in yaml.safe_load(p.read_text())["groups"] for r in g["rules"]]
    assert loki_rules and all(logql.search(r["expr"]) and ":" in r["record"] for r in loki_rules)


def test_loki_ruler_remote_writes_to_a_prometheus_that_accepts_it(rendered):
    loki = yaml.safe_load((rendered / "loki/loki.yml").read_text())
    urls = [c["url"] for c in loki["ruler"]["remote_write"]["clients"].values()]
    assert loki["ruler"]["remote_write"]["enabled"] and urls == ["http://prometheus:9090/api/v1/write"]
    assert loki["ruler"]["storage"]["local"]["directory"] == "/etc/sentinel/loki/rules"
    assert (rendered / "loki/rules/fake").is_dir()  # "fake" is Loki's tenant when auth is off
    prometheus = yaml.safe_load(COMPOSE_FILE.read_text())["services"]["prometheus"]["command"]
    assert "--web.enable-remote-write-receiver" in prometheus


def test_grafana_embeds_only_for_signed_in_viewers(rendered):
    ini = configparser.ConfigParser(interpolation=None)
    ini.read(rendered / "grafana/grafana.ini")
    assert ini.getboolean("auth.anonymous", "enabled") is False
    assert ini.getboolean("security", "allow_embedding") is True
    assert ini.get("security", "cookie_samesite") != "none"
    assert ini.getboolean("users", "allow_sign_up") is False
    assert "frame-ancestors 'self' $__env{FRONTEND_ORIGIN}" in ini.get("security", "content_security_policy_template")


def test_grafana_provisions_both_datasources_and_a_dashboard_per_pattern(rendered):
    sources = yaml.safe_load((rendered / "grafana/provisioning/datasources/datasources.yml").read_text())
    uids = {d["uid"]: d["url"] for d in sources["datasources"]}
    assert uids == {"prometheus": "http://prometheus:9090", "loki": "http://loki:3100"}
    dashboards = {p.stem: json.loads(p.read_text()) for p in (rendered / "grafana/dashboards").glob("*.json")}
    assert set(dashboards) == {"sentinel-overview", *PATTERNS}
    for uid, d in dashboards.items():
        assert d["uid"] == uid and d["panels"]
        for panel in d["panels"]:
            for target in panel["targets"]:
                assert target["datasource"]["uid"] in uids and target["expr"], f"{uid}: {panel['title']}"


def test_n8n_workflows_never_run_commands():
    forbidden = {"n8n-nodes-base.executeCommand", "n8n-nodes-base.ssh", "n8n-nodes-base.function"}
    assert WORKFLOWS
    for path in WORKFLOWS:
        wf = json.loads(path.read_text())
        types = {n["type"] for n in wf["nodes"]}
        assert not types & forbidden, f"{path.name} runs commands: {types & forbidden}"
        names = {n["name"] for n in wf["nodes"]}
        for source, outs in wf["connections"].items():
            assert source in names and all(c["node"] in names for out in outs["main"] for c in out)
        code = "\n".join(n["parameters"].get("jsCode", "") for n in wf["nodes"])
        assert "child_process" not in code and "require(" not in code


@pytest.mark.parametrize("llm_answer, expected", [
    ('{"action": "flush_cache"}', ("flush_cache", {})),
    ('{"action": "restart_service", "service": "api"}', ("restart_service", {"service": "api"})),
    ('{"action": "restart_service", "service": "postgres"}', ("record_only", {})),
    ('{"action": "rm -rf / --no-preserve-root"}', ("record_only", {})),
    ('{"action": "constructor"}', ("record_only", {})),
    ('{"action": "__proto__"}', ("record_only", {})),
    ('sudo reboot', ("record_only", {})),
    ('', ("record_only", {})),
])
def test_the_p3_workflow_maps_any_llm_answer_onto_the_allow_list(llm_answer, expected):
    """Runs the workflow's own Code node in node.js with n8n's $input and $ stand-ins."""
    node = shutil.which("node")
    if not node:
        pytest.fail("node is not installed (apt-get install nodejs)")
    wf = json.loads((REPO / "stack/n8n/workflows/p3-remediation.json").read_text())
    code = next(n["parameters"]["jsCode"] for n in wf["nodes"] if n["type"] == "n8n-nodes-base.code")
    alert = {"body": {"alerts": [{"status": "firing", "labels": {"alertname": "ApiHighErrorRate"}}]}}
    harness = (f"const $input = {{all: () => [{{json: {{response: {json.dumps(llm_answer)}}}}}]}};\n"
               f"const $ = () => ({{first: () => ({{json: {json.dumps(alert)}}})}});\n"
               f"const run = new Function('$input', '$', {json.dumps(code)});\n"
               "process.stdout.write(JSON.stringify(run($input, $)));")
    out = json.loads(subprocess.run([node, "-e", harness], capture_output=True, text=True, check=True).stdout)
    decision = out[0]["json"]
    assert (decision["action"], decision["params"]) == expected
    assert "ApiHighErrorRate" in decision["reason"]
    from stack.remediator.actions import default_actions
    assert decision["action"] in default_actions("redis://127.0.0.1:1/0")
