"""n8n in the local stack is opt-in (LAB_N8N=1), loopback-only, quiet towards the internet, and its
secrets stay in 0600 files; Alertmanager reaches its webhook only when it runs."""
from __future__ import annotations

import re
import stat
import subprocess
from pathlib import Path

import yaml

from analysis.settings import Settings
from analysis.stack import catalogue, n8n
from analysis.stack.local import LocalStack
from analysis.stack.render import CONFIG_SRC, render_configs


def _settings(tmp_path, on: bool) -> Settings:
    return Settings(run_dir=tmp_path / "run", port_base=23000, n8n=on)


def test_without_lab_n8n_the_local_stack_has_no_n8n(tmp_path):
    assert "n8n" not in {s.name for s in catalogue.local_services(_settings(tmp_path, False))}
    assert "n8n" in catalogue.absent_locally(_settings(tmp_path, False))


def test_with_lab_n8n_it_runs_on_loopback_with_telemetry_off_and_secrets_in_0600_files(tmp_path):
    settings = _settings(tmp_path, True)
    service = catalogue.by_name(settings)["n8n"]
    assert service.runs_locally and service.port == "n8n" and "remediator" in service.depends_on
    env = service.environment
    assert env["N8N_LISTEN_ADDRESS"] == env["N8N_RUNNERS_BROKER_LISTEN_ADDRESS"] == "127.0.0.1"
    assert int(env["N8N_RUNNERS_BROKER_PORT"]) == settings.port("n8n") + 1
    assert env["N8N_EXPRESSION_ENGINE"] == "legacy"
    for off in ("N8N_DIAGNOSTICS_ENABLED", "N8N_VERSION_NOTIFICATIONS_ENABLED", "N8N_TEMPLATES_ENABLED"):
        assert env[off] == "false"
    assert env["N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS"] == "true" and env["N8N_PUBLIC_API_DISABLED"] == "true"
    for name in ("N8N_ENCRYPTION_KEY_FILE", "N8N_OWNER_PASSWORD_FILE"):
        path = Path(env[name])
        assert path.parent == tmp_path / "run" / "secrets" and path.read_text().strip()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "N8N_ENCRYPTION_KEY" not in env and "secret" not in service.command.lower()
    assert env["OLLAMA_URL"] == settings.url("ollama") and env["REMEDIATOR_URL"] == settings.url("remediator")


def test_alertmanager_notifies_the_local_n8n_only_when_it_runs(tmp_path):
    for on in (False, True):
        settings = _settings(tmp_path / str(on), on)
        out = tmp_path / f"rendered-{on}"
        render_configs(CONFIG_SRC, out, LocalStack(settings).provision.context({}), only={"alertmanager"})
        config = yaml.safe_load((out / "alertmanager" / "alertmanager.yml").read_text())
        urls = [w["url"] for r in config["receivers"] for w in r["webhook_configs"]]
        if on:
            assert n8n.webhook_url(settings) in urls
            assert [r["receiver"] for r in config["route"]["routes"]] == ["lab", "remediator", "n8n", "remediator"]
        else:
            assert not any("webhook" in u for u in urls)
            assert [r["receiver"] for r in config["route"]["routes"]] == ["lab", "remediator", "remediator"]


def test_with_n8n_a_curable_fault_reaches_n8n_and_the_remediator_once_each_at_the_same_timing(tmp_path):
    """The study compares the two dispatch paths: neither may wait a longer group_wait than the other."""
    settings = _settings(tmp_path, True)
    render_configs(CONFIG_SRC, tmp_path / "out", LocalStack(settings).provision.context({}), only={"alertmanager"})
    path = tmp_path / "out" / "alertmanager" / "alertmanager.yml"
    out = subprocess.run(["amtool", "config", "routes", "test", f"--config.file={path}", "alertname=ApiErrorMode",
                          "remediable=true", "service=api"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert sorted(re.split(r"[,\s]+", out.stdout.strip())) == ["n8n", "remediator"]  # once each
    curable = next(r for r in yaml.safe_load(path.read_text())["route"]["routes"]
                   if r.get("matchers") == ['remediable="true"'])
    timing = ("group_wait", "group_interval", "repeat_interval")
    assert [r["receiver"] for r in curable["routes"]] == ["n8n", "remediator"]
    assert all(key not in child for child in curable["routes"] for key in timing)  # inherited from the route
