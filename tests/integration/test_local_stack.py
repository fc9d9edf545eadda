"""The embedded local stack against its real programs: up, health, scrape targets, apply, down."""
from __future__ import annotations

import os
import re
import signal
import socket
import time

import httpx
import psycopg
import pytest
import redis

from analysis.stack.base import StackError
from stack.replicas import replica_of

pytestmark = pytest.mark.integration


def _targets(settings):
    r = httpx.get(f"{settings.url('prometheus')}/api/v1/targets", timeout=5)
    return r.json()["data"]["activeTargets"]


def test_every_enabled_service_is_healthy_after_up(lab_stack):
    states = {s.name: s.state for s in lab_stack.status()}
    assert states and set(states.values()) == {"healthy"}, states


def test_every_prometheus_target_reports_up(lab_stack):
    expected = {s.name for s in lab_stack.services if s.metrics_path}
    deadline = time.monotonic() + 30
    while True:
        targets = _targets(lab_stack.settings)
        up = {t["labels"]["job"] for t in targets if t["health"] == "up"}
        if expected <= up or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert expected <= up, {t["labels"]["job"]: t["lastError"] for t in targets if t["health"] != "up"}
    r = httpx.get(f"{lab_stack.settings.url('prometheus')}/api/v1/query", params={"query": "up"}, timeout=5)
    values = {s["metric"]["job"]: s["value"][1] for s in r.json()["data"]["result"]}
    assert all(values[job] == "1" for job in expected), values


def test_a_row_written_to_postgres_is_read_back(lab_stack):
    with psycopg.connect(lab_stack.settings.database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS lab_probe (id int PRIMARY KEY, note text)")
        conn.execute("INSERT INTO lab_probe VALUES (1, 'written') ON CONFLICT (id) DO UPDATE SET note = 'written'")
        assert conn.execute("SELECT note FROM lab_probe WHERE id = 1").fetchone()[0] == "written"


def test_pg_stat_statements_sees_the_lab_role_queries(lab_stack):
    # a table of its own: statements are told apart by their parse tree, not their text or aliases
    with psycopg.connect(lab_stack.settings.database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS lab_marker (x int)")
        conn.execute("SELECT x FROM lab_marker WHERE x = %s", (1,))
        rows = conn.execute("SELECT calls FROM pg_stat_statements WHERE query LIKE '%FROM lab_marker%'").fetchall()
    assert rows and rows[0][0] >= 1


def test_no_password_reaches_pg_stat_statements(lab_stack):
    password = lab_stack.settings.secret("db_password")
    with psycopg.connect(lab_stack.settings.monitor_url, autocommit=True) as conn:  # it sees every role's
        texts = [q for (q,) in conn.execute("SELECT query FROM pg_stat_statements").fetchall()]
    assert not [q for q in texts if password in q or re.search(r"PASSWORD\s+'", q, re.I)]


def test_redis_answers(lab_stack):
    client = redis.Redis.from_url(lab_stack.settings.redis_url)
    client.set("lab:probe", "pong", ex=10)
    assert client.get("lab:probe") == b"pong"


def test_the_nginx_proxy_answers_and_only_on_loopback(lab_stack):
    r = httpx.get(f"{lab_stack.settings.url('nginx')}/nginx-health", timeout=5)
    assert r.status_code == 200
    with pytest.raises(OSError):
        # nothing of the lab listens on a non-loopback address
        ip = socket.gethostbyname(socket.gethostname())
        if ip.startswith("127."):
            raise OSError("no non-loopback address on this machine")
        socket.create_connection((ip, lab_stack.settings.port("nginx")), 1).close()


def test_apply_restarts_only_the_services_a_toggle_affects(lab_stack):
    before = {s.name: s.pid for s in lab_stack.status()}
    try:
        restarted = lab_stack.apply({"SENTINEL_CACHE": "on"})
        after = {s.name: s.pid for s in lab_stack.status()}
        assert restarted == ["api"]
        assert after["api"] != before["api"]
        assert {n: p for n, p in after.items() if n != "api"} == {n: p for n, p in before.items() if n != "api"}
        assert lab_stack.apply({"SENTINEL_CACHE": "on"}) == []  # same value: nothing restarts
    finally:
        lab_stack.apply({"SENTINEL_CACHE": "off"})


def test_a_reloadable_toggle_reloads_postgres_and_restarts_nothing(lab_stack):
    before = {s.name: s.pid for s in lab_stack.status()}
    assert lab_stack.apply({"PG_LOG_MIN_DURATION_MS": "100"}) == []
    assert {s.name: s.pid for s in lab_stack.status()} == before
    assert "log_min_duration_statement = 100" in (lab_stack.run / "config/postgres/audit.reload.conf").read_text()


def test_a_truthsync_toggle_restarts_every_instance_and_nothing_else(lab_stack):
    before = {s.name: s.pid for s in lab_stack.status()}
    instances = sorted(n for n in before if replica_of(n))
    try:
        assert sorted(lab_stack.apply({"TRUTHSYNC_L2": "on"})) == instances
        after = {s.name: s.pid for s in lab_stack.status()}
        assert all(after[n] != before[n] for n in instances)
        assert all(after[n] == before[n] for n in before if n not in instances)
        assert {s.state for s in lab_stack.status()} == {"healthy"}
    finally:
        lab_stack.apply({"TRUTHSYNC_L2": "off"})


def test_unknown_toggle_is_an_error_listing_the_known_ones(lab_stack):
    from analysis.stack.toggles import ToggleError

    with pytest.raises(ToggleError, match="known toggles: .*SENTINEL_CACHE"):
        lab_stack.apply({"SENTINEL_CACHEE": "on"})


# ---- destructive tests: a small stack of their own ------------------------------------------

@pytest.fixture
def small_stack(make_stack):
    return make_stack(["redis", "postgres", "redis-exporter"])


def _listening(ports) -> list[int]:
    busy = []
    for port in ports:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                busy.append(port)
    return busy


def _lab_processes(run_dir) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmdline = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(run_dir) in cmdline:
                found.append(cmdline)
    return found


def test_down_leaves_no_process_and_no_listening_port(small_stack):
    small_stack.up()
    ports = [s.port for s in small_stack.status()]
    assert len(_listening(ports)) == len(ports)
    small_stack.down()
    assert _listening(ports) == []
    assert _lab_processes(small_stack.run) == []
    assert {s.state for s in small_stack.status()} == {"stopped"}


def test_up_with_a_taken_port_names_the_port_and_the_service(small_stack):
    port = small_stack.settings.port("redis")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        with pytest.raises(StackError, match=f"port {port} needed by redis"):
            small_stack.up()


def test_a_service_killed_with_sigkill_shows_as_not_healthy(small_stack):
    small_stack.up()
    victim = next(s for s in small_stack.status() if s.name == "redis-exporter")
    os.kill(victim.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        state = next(s.state for s in small_stack.status() if s.name == "redis-exporter")
        if state != "healthy":
            break
        time.sleep(0.2)
    assert state in {"unhealthy", "stopped"}


def test_mtail_turns_error_lines_of_the_services_logs_into_a_metric(lab_stack):
    url = f"{lab_stack.settings.url('mtail')}/metrics"

    def errors() -> float:
        line = next((l for l in httpx.get(url, timeout=5).text.splitlines()
                     if l.startswith("sentinel_log_errors_total")), None)
        return float(line.rsplit(" ", 1)[1]) if line else 0.0

    before = errors()
    with open(lab_stack.settings.log_dir / "api.log", "a") as log:
        log.write('{"timestamp":"2026-01-01T00:00:00.000+00:00","level":"ERROR","logger":"test",'
                  '"message":"mtail probe","service":"api"}\n')
    deadline = time.monotonic() + 15
    while errors() < before + 1 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert errors() == before + 1
