"""The load runner against real servers: nginx (fast, so Locust is the bottleneck when asked to
be), a small Postgres-backed HTTP app, and the lab's local stack where it is available."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psutil
import pytest
import requests
from ports import free_port

from analysis.collect import postgres
from analysis.load import REPO, Launched, Workload, run

pytestmark = pytest.mark.integration

STEADY = """
from locust import FastHttpUser, constant, task
import common  # noqa: F401  (the per-request log)

class Steady(FastHttpUser):
    wait_time = constant(0.05)

    @task(3)
    def root(self):
        self.client.get("/")

    @task(1)
    def missing(self):
        self.client.get("/missing")
"""
FLOOD = """
from locust import FastHttpUser, task
import common  # noqa: F401

class Flood(FastHttpUser):  # no wait time: each user fires as fast as it can
    @task
    def hit(self):
        self.client.get("/")
"""


def _wait_http(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


@pytest.fixture(scope="module")
def nginx(tmp_path_factory):
    """A one-worker nginx answering 200 on / and 404 elsewhere: far faster than one Locust process."""
    d = tmp_path_factory.mktemp("nginx")
    port = free_port()
    (d / "nginx.conf").write_text(textwrap.dedent(f"""
        worker_processes 1; error_log {d}/error.log; pid {d}/nginx.pid;
        events {{ worker_connections 4096; }}
        http {{ access_log off; client_body_temp_path {d}/tmp;
          server {{ listen 127.0.0.1:{port}; location = / {{ return 200 "ok"; }} location / {{ return 404; }} }} }}
    """))
    proc = subprocess.Popen(["nginx", "-c", str(d / "nginx.conf"), "-p", str(d), "-g", "daemon off;"])
    try:
        _wait_http(f"http://127.0.0.1:{port}/")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def locustfile(tmp_path):
    def write(body: str) -> str:
        path = tmp_path / f"lf_{abs(hash(body))}.py"
        path.write_text(body)
        return str(path)
    return write


def test_a_ten_second_run_gives_every_frame_with_its_documented_columns(nginx, locustfile, tmp_path):
    r = run(Workload(locustfile(STEADY), nginx, users=5, spawn_rate=5, duration_s=10), run_dir=tmp_path / "run",
            progress=False)
    assert not r.interrupted and r.exit_code == 0
    assert {"type", "name", "requests", "failures", "rps", "p50_ms", "p95_ms", "p99_ms"} <= set(r.stats.columns)
    assert set(r.stats["name"]) == {"/", "/missing", "Aggregated"}
    assert {"timestamp", "users", "name", "rps", "p50_ms", "p95_ms", "p99_ms", "total_requests"} <= set(r.history.columns)
    assert r.history["users"].max() == 5 and str(r.history["timestamp"].dt.tz) == "UTC"
    assert r.failures.loc[0, "name"] == "/missing" and r.failures.loc[0, "occurrences"] > 0
    assert list(r.requests.columns) == ["timestamp", "type", "name", "response_time_ms", "success", "intended_ms"]
    assert r.requests["intended_ms"].isna().all()  # closed loop: no request had an intended start
    agg = r.stats.set_index("name").loc["Aggregated"]
    # the per-request log and Locust's own totals count the same requests
    assert len(r.requests) == agg["requests"] and (~r.requests["success"]).sum() == agg["failures"]
    s = r.summary()
    assert s["requests"] == len(r.requests) and s["p50_ms"] <= s["p95_ms"] <= s["p99_ms"] and not s["untrusted"]


def test_a_launched_run_waits_at_its_gate_and_one_never_given_its_go_leaves_nothing(nginx, locustfile, tmp_path):
    """Locust started early (its imports overlapping the lab's preparations) sends nothing until go; the
    run's window starts at go; a run abandoned before go (an error, Ctrl-C) leaves no process."""
    w = Workload(locustfile(STEADY), nginx, users=2, spawn_rate=2, duration_s=2)
    with Launched(w, tmp_path / "held") as pending:
        time.sleep(3)  # well past Locust's start-up
        assert pending.proc.poll() is None and not (tmp_path / "held" / "requests.csv").exists()
        r = pending.go(progress=False)
    assert r.exit_code == 0 and len(r.requests) > 0 and r.requests["timestamp"].min() >= r.started
    abandoned = Launched(w, tmp_path / "abandoned")
    with pytest.raises(RuntimeError), abandoned:
        raise RuntimeError("a reset failed")
    assert abandoned.proc.returncode is not None and not (tmp_path / "abandoned" / "locust.pid").exists()
    assert not (tmp_path / "abandoned" / "requests.csv").exists()


def test_a_generator_that_saturates_its_own_cpu_is_flagged_untrusted(nginx, locustfile, tmp_path):
    r = run(Workload(locustfile(FLOOD), nginx, users=200, spawn_rate=200, duration_s=8), run_dir=tmp_path / "run",
            progress=False)
    assert r.untrusted, f"not flagged; generator CPU samples: {r.generator_cpu['cpu_percent'].tolist()}"
    assert "core" in r.untrusted_reason or "CPU" in r.untrusted_reason


def test_sigint_to_the_runner_stops_locust_and_keeps_what_was_measured(nginx, locustfile, tmp_path):
    script = textwrap.dedent(f"""
        import json
        from pathlib import Path
        from analysis.load import Workload, run
        r = run(Workload({locustfile(STEADY)!r}, {nginx!r}, users=3, spawn_rate=3, duration_s=120),
                run_dir=Path({str(tmp_path / 'run')!r}), progress=False)
        print(json.dumps({{**r.summary(), "interrupted": r.interrupted}}))
    """)
    runner = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
    pid_file = tmp_path / "run" / "locust.pid"
    deadline = time.monotonic() + 30
    while not (tmp_path / "run" / "requests.csv").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(3)
    locust = psutil.Process(int(pid_file.read_text()))
    runner.send_signal(signal.SIGINT)
    out, _ = runner.communicate(timeout=40)
    result = json.loads(out.strip().splitlines()[-1])
    assert result["interrupted"] and result["requests"] > 0
    assert not locust.is_running() or locust.status() == psutil.STATUS_ZOMBIE
    leftovers = [p for p in psutil.process_iter(["cmdline"]) if str(pid_file.parent) in " ".join(p.info["cmdline"] or [])]
    assert leftovers == []


def test_a_scheduled_profile_plays_its_stages_and_labels_the_fault_window(nginx, locustfile, tmp_path):
    plan = json.dumps([{"duration_s": 4, "users": 2, "spawn_rate": 10},
                       {"duration_s": 4, "users": 6, "spawn_rate": 10, "fault": "redis-down"}])
    lf = locustfile(STEADY + "\nfrom shapes import LabShape  # noqa: F401,E402\n")
    r = run(Workload(lf, nginx, users=1, spawn_rate=1, duration_s=30, shape="schedule", options={"schedule": plan}),
            run_dir=tmp_path / "run", progress=False)
    assert r.stages["fault"].fillna("").tolist() == ["", "redis-down"] and r.stages["users"].tolist() == [2, 6]
    fault = r.stages.iloc[1]
    assert (fault["end"] - fault["start"]).total_seconds() == pytest.approx(4)
    agg = r.history[r.history["name"] == "Aggregated"]
    before, during = (agg[agg["timestamp"] < fault["start"]], agg[agg["timestamp"] > fault["start"] + timedelta(seconds=1)])
    assert before["users"].max() == 2 and during["users"].max() == 6
    assert r.ended - r.started < timedelta(seconds=25)  # the schedule, not -t 30s, ended the run


def test_the_cli_prints_the_json_summary_and_stores_the_run(nginx, locustfile, tmp_path):
    out = subprocess.run([sys.executable, "-m", "analysis", "load", locustfile(STEADY), "--host", nginx, "--users", "2",
                          "--duration", "3s", "--json"], cwd=REPO, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "LAB_RESULTS_DIR": str(tmp_path / "results"),
                              "LAB_RUN_DIR": str(tmp_path / "run")})
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert set(summary) == {"run_id", "requests", "failures", "rps", "p50_ms", "p95_ms", "p99_ms", "untrusted"}
    stored = tmp_path / "results" / "load" / summary["run_id"]
    assert {"meta.json", "requests.parquet", "stats.parquet", "history.parquet"} <= {p.name for p in stored.iterdir()}
    assert json.loads((stored / "meta.json").read_text())["workload"]["users"] == 2


PG_APP = """
import os, psycopg
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class App(BaseHTTPRequestHandler):
    def do_GET(self):
        with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
            conn.execute("SELECT count(*) AS load_probe FROM pg_class WHERE relpages >= %s", (0,))
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"ok")

    def log_message(self, *a):
        pass

ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), App).serve_forever()
"""


def test_the_statements_delta_holds_what_the_run_caused_and_nothing_from_before(pg_dsn, locustfile, tmp_path):
    port = free_port()
    app = tmp_path / "app.py"
    app.write_text(PG_APP)
    server = subprocess.Popen([sys.executable, str(app)], env={**os.environ, "PORT": str(port), "DATABASE_URL": pg_dsn})
    try:
        _wait_http(f"http://127.0.0.1:{port}/")  # this request runs before the snapshot
        import psycopg
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute("SELECT 42 AS before_the_run")
        before = postgres.statements(pg_dsn)
        lf = locustfile(STEADY.replace("@task(1)\n    def missing", "@task(0)\n    def missing"))
        r = run(Workload(lf, f"http://127.0.0.1:{port}", users=3, spawn_rate=3, duration_s=5),
                run_dir=tmp_path / "run", progress=False)
        after = postgres.statements(pg_dsn)
    finally:
        server.terminate()
        server.wait(10)
    calls = postgres.statements_delta(before, after).query("metric == 'calls'").set_index("query")["value"]
    probe = calls[calls.index.str.contains("load_probe")]
    assert probe.tolist() == [float(r.requests["success"].sum())]  # one statement per request, exactly
    assert not calls.index.str.contains("before_the_run").any()


def _stack_or_skip(request, service: str):
    try:
        stack = request.getfixturevalue("lab_stack")
    except pytest.FixtureLookupError:
        pytest.skip("needs the lab_stack fixture (tests/integration/conftest.py)")
    try:
        requests.get(stack.settings.url(service) + "/health", timeout=2).raise_for_status()
    except requests.RequestException:
        pytest.skip(f"the local stack runs no healthy {service} yet (catalogue: enabled=False until it lands)")
    return stack.settings


def _counts_agree(settings, series: str, workload: Workload, run_dir: Path) -> tuple[float, int]:
    """(what Prometheus counted, what Locust sent) over one run, with a scrape's margin either side."""
    from analysis.collect.prometheus import Prometheus

    prom, margin = Prometheus(settings.url("prometheus")), 2 * settings.scrape_interval_s + 1
    time.sleep(margin)
    start = datetime.now(timezone.utc)
    r = run(workload, run_dir=run_dir, progress=False)
    time.sleep(margin)
    return prom.increase(series, start, datetime.now(timezone.utc)), len(r.requests)


def test_prometheus_counts_the_api_requests_locust_sent_within_ten_percent(request, tmp_path):
    settings = _stack_or_skip(request, "api")
    counted, sent = _counts_agree(settings, 'sum(http_requests_total{service="api", handler!~"/metrics|/health"})',
                                  Workload("api", settings.url("nginx"), users=10, spawn_rate=10, duration_s=10),
                                  tmp_path / "run")
    assert sent > 0 and abs(counted - sent) <= 0.10 * sent, f"Prometheus counted {counted}, Locust sent {sent}"


def test_prometheus_counts_the_truthsync_requests_locust_sent_within_ten_percent(request, tmp_path):
    settings = _stack_or_skip(request, "truthsync-1")
    subprocess.run([sys.executable, "-m", "truthsync.dataset", "--size", "1k", "--out", str(tmp_path / "ds")],
                   cwd=REPO, check=True, capture_output=True)
    workload = Workload("truthsync", settings.url("nginx") + "/truthsync", users=5, spawn_rate=5, duration_s=10,
                        options={"dataset": tmp_path / "ds"})
    counted, sent = _counts_agree(settings, 'sum(truthsync_requests_total{endpoint=~"/verify.*"})', workload,
                                  tmp_path / "run")
    assert sent > 0 and abs(counted - sent) <= 0.10 * sent, f"Prometheus counted {counted}, Locust sent {sent}"
