"""The compose stack's rendered configs, run or read by the real tools that will read them.

No Docker engine runs here, so where a program exists on this machine it is started on the very
file compose mounts, with the flags compose passes and the container's paths mapped onto a
temporary root (Redis, Postgres); Alertmanager's routing is asked of amtool; Alloy's and Loki's
configs are parsed and checked against the option names of the pinned versions
(tests/unit/compose_reference/). What only a live engine can confirm is `sentinel-lab up --stack
compose --check`'s job.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
import redis
import yaml
from ports import free_port, wait_port

from analysis.stack import alloy
from analysis.stack.compose import COMPOSE_FILE
from analysis.stack.provision import PG_BIN

REFERENCE = Path(__file__).parent / "compose_reference"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def _tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        pytest.fail(f"{name} is not installed: run stack/local/install-deps.sh")
    return path


class ContainerRoot:
    """A temporary directory standing for a container's file system: only the paths the image
    provides exist, so a config naming any other path fails here as it would in the container."""

    def __init__(self, root: Path, image_dirs: list[str], mounts: dict[str, Path]):
        self.root = root
        for d in image_dirs:
            (root / d.lstrip("/")).mkdir(parents=True, exist_ok=True)
        for target, source in mounts.items():
            dst = root / target.lstrip("/")
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(source, dst)

    def path(self, container_path: str) -> str:
        return str(self.root / container_path.lstrip("/"))

    def map_text(self, text: str, prefixes: tuple[str, ...]) -> str:
        """Every absolute path under one of ``prefixes`` (or any path, for "/") moved under the root."""
        pattern = r"(?<![\w.])(/(?:%s)[^\s'\"]*)" % "|".join(re.escape(p.strip("/")) for p in prefixes)
        return re.sub(pattern, lambda m: self.path(m.group(1)), text)


def _compose_command(service: dict) -> list[str]:
    """The argv compose runs: ``sh -c "exec …"`` unwrapped."""
    command = service["command"]
    if command[:2] == ["sh", "-c"]:
        command = shlex.split(command[2].replace('"', ""))
    return [a for a in command if a != "exec"]


# ---------------------------------------------------------------------------------- Redis
@pytest.mark.parametrize("instance, policy", [("redis", "noeviction"), ("redis-cache", "allkeys-lru")])
def test_redis_starts_from_the_rendered_compose_config_with_the_compose_flags(rendered, compose, tmp_path,
                                                                            compose_redis_passwords, instance, policy):
    """The redis image has /data (its volume and working directory) and the mounted config; Redis
    changes into `dir` while reading the file, before command-line flags apply. Each instance has the
    lab's ACL users (passwords from .env) and refuses a client without credentials."""
    root = ContainerRoot(tmp_path / "redis", ["/data"], {"/etc/sentinel/redis": rendered / "redis"})
    argv = _compose_command(compose["services"][instance])
    assert argv[0] == "redis-server" and argv[1] == f"/etc/sentinel/redis/{instance}.conf"
    config = Path(root.path(argv[1]))
    config.write_text(root.map_text(config.read_text(), ("/",)))
    port = free_port()
    argv = [_tool("redis-server"), str(config), *[root.map_text(a, ("/",)) for a in argv[2:]],
            "--bind", "127.0.0.1", "--port", str(port)]  # loopback here; the container binds 0.0.0.0
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    as_user = {user: redis.Redis(port=port, username=user, password=pw) for user, pw in compose_redis_passwords.items()}
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                assert as_user["lab"].ping()
                break
            except redis.ConnectionError:
                time.sleep(0.1)
        assert proc.poll() is None, f"redis-server exited: {proc.stdout.read()}"
        assert as_user["lab"].config_get("dir")["dir"] == root.path("/data")
        assert as_user["lab"].config_get("maxmemory-policy")["maxmemory-policy"] == policy
        assert all(client.ping() for client in as_user.values())
        with pytest.raises(redis.exceptions.NoPermissionError):  # services may not reconfigure Redis
            as_user["api"].config_set("maxmemory-policy", "allkeys-lru")
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=port).ping()
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=port, username="api", password="wrong").ping()
    finally:
        proc.terminate()
        proc.wait(10)


# ------------------------------------------------------------------------------- Postgres
def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _healthcheck(compose: dict, root: ContainerRoot, port: int) -> subprocess.CompletedProcess:
    """The compose healthcheck as written; without -h, pg_isready uses the container's socket dir."""
    test = compose["services"]["postgres"]["healthcheck"]["test"]
    assert test[0] == "CMD"
    env = {**os.environ, "PGPORT": str(port), "PGCONNECT_TIMEOUT": "2"}
    env.pop("PGHOST", None)
    if "-h" not in test:
        env["PGHOST"] = root.path("/var/run/postgresql")
    return subprocess.run([str(PG_BIN / test[1]), *test[2:]], env=env, capture_output=True, text=True)


@pytest.fixture
def pg_root(rendered):
    """A container root the ``postgres`` user owns (pytest's own tmp dirs are root's, 0700)."""
    base = Path(tempfile.mkdtemp(prefix="lab-compose-pg-"))
    root = ContainerRoot(base, ["/var/lib/postgresql", "/var/run/postgresql", "/var/log/sentinel"],
                         {"/etc/sentinel/postgres": rendered / "postgres"})
    if os.geteuid() == 0:
        os.chmod(base, 0o755)
        subprocess.run(["chown", "-R", "postgres", str(base)], check=True)
    subprocess.run(_as_postgres([str(PG_BIN / "initdb"), "-D", root.path("/var/lib/postgresql/data"),
                                 "-U", "sentinel", "--auth=trust", "-E", "UTF8", "--locale=C"]),
                   check=True, capture_output=True)
    yield root
    shutil.rmtree(base, ignore_errors=True)


def _pg_start(root: ContainerRoot, argv: list[str], port: int) -> None:
    data = root.path("/var/lib/postgresql/data")
    options = " ".join(shlex.quote(a) for a in argv)
    done = subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", data, "-w", "-t", "20", "-l",
                                        f"{data}/startup.log", "-o", options, "start"]),
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr + Path(f"{data}/startup.log").read_text()


def _pg_stop(root: ContainerRoot) -> None:
    subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", root.path("/var/lib/postgresql/data"),
                                 "-m", "fast", "stop"]), capture_output=True)


def test_postgres_starts_from_the_rendered_compose_config_with_the_compose_flags(pg_root, compose):
    """The postgres image (16 there, 15 here: the settings used exist in both) runs its server with
    the flags compose passes; every path they name must exist in the container."""
    args = compose["services"]["postgres"]["command"]
    assert args[0] == "postgres"
    port = free_port()
    argv = [pg_root.map_text(a, ("/",)) for a in args[1:]]
    argv = [a.replace("listen_addresses=*", "listen_addresses=127.0.0.1") for a in argv]
    conf = Path(pg_root.path("/etc/sentinel/postgres/postgresql.conf"))
    conf.write_text(pg_root.map_text(conf.read_text(), ("/var", "/etc", "/run")))
    _pg_start(pg_root, [*argv, "-c", f"port={port}"], port)
    try:
        with psycopg.connect(f"postgresql://sentinel@127.0.0.1:{port}/postgres", autocommit=True) as conn:
            (preload,) = conn.execute("SHOW shared_preload_libraries").fetchone()
            assert "pg_stat_statements" in preload
            conn.execute("SELECT pg_sleep(0)")
        assert any(Path(pg_root.path("/var/log/sentinel")).iterdir()), "the server log is not where Alloy reads it"
    finally:
        _pg_stop(pg_root)


def test_postgres_is_healthy_only_once_the_real_server_listens_on_tcp(pg_root, compose):
    """The image's init server listens on the Unix socket only while the init scripts (n8n's role)
    run; a healthcheck that answers then lets n8n-loader start too early."""
    port = free_port()
    socket_dir = pg_root.path("/var/run/postgresql")
    init_server = ["-c", "listen_addresses=", "-c", f"unix_socket_directories={socket_dir}", "-c", f"port={port}"]
    _pg_start(pg_root, init_server, port)
    try:
        assert _healthcheck(compose, pg_root, port).returncode != 0, \
            "healthy while only the init server's socket answers"
    finally:
        _pg_stop(pg_root)
    _pg_start(pg_root, ["-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={socket_dir}",
                        "-c", f"port={port}"], port)
    try:
        wait_port(port)
        result = _healthcheck(compose, pg_root, port)
        assert result.returncode == 0, result.stdout + result.stderr
    finally:
        _pg_stop(pg_root)


# ----------------------------------------------------------------------- Alertmanager
def _alerts(rendered: Path) -> dict[str, dict]:
    return {r["alert"]: r.get("labels", {}) for p in sorted((rendered / "prometheus/rules").glob("*.yml"))
            for g in yaml.safe_load(p.read_text())["groups"] for r in g["rules"] if "alert" in r}


def test_every_compose_alert_reaches_the_remediator_and_n8n(rendered):
    config = str(rendered / "alertmanager/alertmanager.yml")
    alerts = _alerts(rendered)
    assert alerts
    for name, labels in alerts.items():
        argv = [_tool("amtool"), "config", "routes", "test", f"--config.file={config}", f"alertname={name}",
                *(f"{k}={v}" for k, v in labels.items())]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        assert set(re.split(r"[,\s]+", out.stdout.strip())) == {"n8n", "remediator"}, (name, out.stdout)


# ------------------------------------------------------------------------- Prometheus
def test_promtool_unit_tests_of_the_rules_pass_on_the_rendered_compose_rules(rendered):
    """Every `promtool test rules` file shipped with the rules, run on the copy compose mounts (its
    rule files are named relative to it)."""
    tests = sorted((rendered / "prometheus/tests").glob("*.yml"))
    assert tests, "no promtool tests rendered with the compose config"
    for path in tests:
        out = subprocess.run([_tool("promtool"), "test", "rules", path.name], capture_output=True, text=True,
                             cwd=path.parent, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr


def _alloy_labels(rendered: Path) -> set[str]:
    """The labels Alloy's log-derived series carry: its targets' labels and those its stages set."""
    labels: set[str] = set()
    for top in alloy.parse((rendered / "alloy/config.alloy").read_text()):
        for _, block in top.walk():
            if block.name == "local.file_match":
                labels |= {k for t in block.attrs["path_targets"] for k in t if not k.startswith("__")}
            if block.name == "stage.labels":
                labels |= set(block.attrs["values"])
    return labels


def test_scrape_jobs_keep_the_labels_their_targets_carry(rendered):
    """A target whose series carry `service` or `job` themselves needs honor_labels, or Prometheus
    renames them exported_service / exported_job and every log metric looks like Alloy's own."""
    config = yaml.safe_load((rendered / "prometheus/prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    clash = _alloy_labels(rendered) & {"service", "job"}
    assert clash, "Alloy's series carry no service label: the log metrics cannot be told apart"
    assert jobs["alloy"].get("honor_labels") is True
    for name, job in jobs.items():
        static = {k for sc in job.get("static_configs", []) for k in sc.get("labels", {})}
        if name != "alloy":
            assert not job.get("honor_labels"), f"{name}: honor_labels lets a target overwrite {static}"


# ------------------------------------------------------------------------------ Alloy
def _reference(name: str) -> dict:
    return yaml.safe_load((REFERENCE / name).read_text())


def test_alloy_config_uses_only_options_of_the_pinned_alloy(rendered, compose):
    reference = _reference("alloy-v1.5.1.yml")
    assert compose["services"]["alloy"]["image"].endswith(":" + reference["version"])
    known = reference["blocks"]
    for top in alloy.parse((rendered / "alloy/config.alloy").read_text()):
        for path, block in top.walk():
            assert block.name in known, f"line {block.line}: {'/'.join(path)} is not a block of Alloy {reference['version']}"
            options = known[block.name]
            unknown = set(block.attrs) - set(options)
            assert not unknown, f"line {block.line}: {block.name} has no attribute {sorted(unknown)}"
            missing = {k for k, v in options.items() if v == "required"} - set(block.attrs)
            assert not missing, f"line {block.line}: {block.name} needs {sorted(missing)}"


def test_alloy_exports_the_log_metrics_under_the_names_mtail_uses_locally(rendered):
    exported = alloy.exported_metrics(alloy.parse((rendered / "alloy/config.alloy").read_text()))
    assert not [m for m in exported if m.startswith(alloy.DEFAULT_METRICS_PREFIX)], exported
    mtail = (rendered / "mtail/api_logs.mtail").read_text()
    local = set(re.findall(r"^(?:counter|gauge|histogram) (\w+)", mtail, re.M))
    assert local and local <= set(exported), f"mtail exports {local}, Alloy {set(exported)}"


def test_an_empty_alloy_prefix_is_the_default_prefix():
    """The rule the compose bug came from, pinned: `prefix = ""` does not mean "no prefix"."""
    blocks = alloy.parse('loki.process "x" { stage.metrics { metric.counter { name = "a_total"\n prefix = ""'
                         '\n action = "inc" } }\n forward_to = [] }')
    assert alloy.exported_metrics(blocks) == {"loki_process_custom_a_total": "counter"}


# ------------------------------------------------------------------------------- Loki
def _option_paths(node, prefix: str = "") -> set[str]:
    if isinstance(node, dict):
        return set().union(*(_option_paths(v, f"{prefix}.{k}" if prefix else str(k)) for k, v in node.items())) \
            if node else {prefix}
    if isinstance(node, list) and node and isinstance(node[0], dict):
        return set().union(*(_option_paths(item, prefix + "[]") for item in node))
    return {prefix}


def test_loki_config_uses_only_options_of_the_pinned_loki(rendered, compose):
    reference = _reference("loki-3.3.2.yml")
    assert compose["services"]["loki"]["image"].endswith(":" + reference["version"])
    known = set(reference["options"])
    used = _option_paths(yaml.safe_load((rendered / "loki/loki.yml").read_text()))
    # remote-write clients are a map of names the user chooses
    used = {re.sub(r"(remote_write\.clients)\.[^.]+", r"\1.*", p) for p in used}
    assert not used - known, f"not options of Loki {reference['version']}: {sorted(used - known)}"


# ------------------------------------------------------------------------ healthchecks
def _healthcheck_binaries(test: list[str]) -> list[str]:
    if test[0] == "CMD":
        return [test[1]]
    assert test[0] == "CMD-SHELL", test
    return [shlex.split(part)[0] for part in re.split(r"\|\||&&|\|", test[1])]


def test_every_healthcheck_calls_a_program_its_pinned_image_has(compose):
    table = _reference("healthcheck-binaries.yml")["images"]
    checked = 0
    for name, service in compose["services"].items():
        test = (service.get("healthcheck") or {}).get("test")
        if not test:
            continue
        image = service["image"]
        assert image in table, f"{name}: no entry for {image} in compose_reference/healthcheck-binaries.yml"
        for binary in _healthcheck_binaries(test):
            assert binary in table[image]["binaries"], f"{name}: {image} has no {binary} ({table[image]['source']})"
            checked += 1
    assert checked >= 15
