"""Helpers for the remediator's integration tests: the app in process, Alertmanager's payloads, a real supervisord."""
from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from analysis.stack.supervisor import Program, Supervisor
from stack.remediator.app import create_app

TOKEN = "test-token"
ALERT_TOKEN = "alertmanager-token"
ALERTMANAGER = {"Authorization": f"Bearer {ALERT_TOKEN}"}
N8N = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def alert_token_file(tmp_path) -> Path:
    path = tmp_path / "alert_token"
    path.write_text(ALERT_TOKEN + "\n")
    path.chmod(0o600)
    return path


def client(redis_url: str, mode: str = "on", token: str | None = TOKEN, alert_token_file: Path | None = None,
           **env_extra: str) -> httpx.AsyncClient:
    env = {"REDIS_URL": redis_url, "REMEDIATOR_MODE": mode, **env_extra}
    if token:
        env["REMEDIATOR_TOKEN"] = token
    if alert_token_file:
        env["REMEDIATOR_ALERT_TOKEN_FILE"] = str(alert_token_file)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(env)), base_url="http://remediator")


def firing(alertname: str, starts_at: str | None = None, fingerprint: str | None = None, **labels: str) -> dict:
    """Alertmanager's webhook (version 4) for one firing alert; one ``starts_at`` is one episode."""
    alert = {"status": "firing", "labels": {"alertname": alertname, "service": "api", **labels}}
    if starts_at:
        alert["startsAt"] = starts_at
    if fingerprint:
        alert["fingerprint"] = fingerprint
    return {"version": "4", "status": "firing", "alerts": [alert]}


@pytest.fixture
def supervised_api():
    """A real supervisord with a program named ``api`` (a sleeper that takes 1 s to count as started)."""
    run = Path(tempfile.mkdtemp(prefix="rem-"))
    (run / "logs").mkdir()
    sup = Supervisor(run)
    sup.write_config([Program("api", f"{sys.executable} -c 'import time; time.sleep(600)'", {}, str(run),
                              str(run / "logs" / "api.out"))])
    sup.start()
    try:
        yield sup
    finally:
        sup.shutdown()
        shutil.rmtree(run, ignore_errors=True)


def spawns(sup: Supervisor, name: str = "api") -> int:
    """How many times supervisord started ``name``: its own log, not the remediator's word."""
    log = sup.run_dir / "logs" / "supervisord.txt"
    return log.read_text().count(f"spawned: '{name}'") if log.exists() else 0


def settled_spawns(sup: Supervisor, quiet_s: float = 2.0, limit_s: float = 30.0, name: str = "api") -> int:
    """supervisord's spawn count once it stopped changing for ``quiet_s``: a restart still under way on a
    loaded machine is counted, and one that would come late is not missed."""
    count, since, deadline = spawns(sup, name), time.monotonic(), time.monotonic() + limit_s
    while time.monotonic() - since < quiet_s and time.monotonic() < deadline:
        time.sleep(0.2)
        if spawns(sup, name) != count:
            count, since = spawns(sup, name), time.monotonic()
    return count
