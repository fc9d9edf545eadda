"""P3's `repeat_interval` trap through a REAL Alertmanager: one alert that stays firing, re-sent every
second by the stack's own route (its timings shortened), reaches the real remediator (a process of its
own, under a real supervisord) many times, and restarts the service once.

prometheus-am-executor warns that a ``repeat_interval`` shorter than an alert's life runs its action
again on every repeat. The positive control puts the design's naive executor (run the action on every
notification, as n8n's Execute Command node does) behind the same route: it restarts on every repeat.
Restarts are counted from supervisord's own log; deliveries from what each receiver recorded.
"""
from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import httpx
import pytest
import yaml
from remediator_support import ALERT_TOKEN, alert_token_file, settled_spawns, spawns, supervised_api  # noqa: F401

from analysis.stack.render import CONFIG_SRC, render_configs
from stack.launch import free_port, launched
from stack.remediator.actions import restart_service

pytestmark = pytest.mark.integration
REPEAT_S = "1s"  # the route's group_interval and repeat_interval: far shorter than the alert's life
COOLDOWN_S = 3.0  # the remediator's: a few repeats arrive within it, many after it
DELIVERIES = 8  # notifications of the one firing alert each receiver must have had
ALERT = {"alertname": "ApiErrorMode", "service": "api", "severity": "critical", "remediable": "true"}


def _alertmanager_config(dst: Path, receiver_port: int, token_file: Path) -> Path:
    """The stack's alertmanager.yml, its remediable route re-sending every second."""
    render_configs(CONFIG_SRC, dst, {"stack": "test", "alert_token_file": str(token_file),
                                     "svc": {"remediator": {"host": "127.0.0.1", "port": receiver_port}}},
                   only={"alertmanager"})
    path = dst / "alertmanager" / "alertmanager.yml"
    config = yaml.safe_load(path.read_text())
    route = next(r for r in config["route"]["routes"] if r.get("matchers") == ['remediable="true"'])
    assert route["receiver"] == "remediator"
    route.update(group_wait="0s", group_interval=REPEAT_S, repeat_interval=REPEAT_S)
    path.write_text(yaml.safe_dump(config))
    return path


@contextmanager
def _alertmanager(tmp: Path, receiver_port: int, token_file: Path) -> Iterator[str]:
    config, port = _alertmanager_config(tmp / "am-config", receiver_port, token_file), free_port()
    argv = ["prometheus-alertmanager", f"--config.file={config}", f"--storage.path={tmp / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="]
    with launched("alertmanager", argv, dict(os.environ), port, tmp / "alertmanager.log", health="/-/ready") as am:
        yield am.url


def _fire_until(alertmanager: str, delivered, n: int, timeout_s: float = 30.0) -> int:
    """Post one alert (one start, an end far away: it stays firing) and wait for ``n`` deliveries."""
    now = datetime.now(timezone.utc)
    alert = {"labels": ALERT, "annotations": {"summary": "repeat_interval trap"},
             "startsAt": now.isoformat(), "endsAt": (now + timedelta(minutes=10)).isoformat()}
    httpx.post(f"{alertmanager}/api/v2/alerts", json=[alert], timeout=5).raise_for_status()
    deadline = time.monotonic() + timeout_s
    while delivered() < n and time.monotonic() < deadline:
        time.sleep(0.2)
    return delivered()


def _firings(audit_file: Path) -> list[dict]:
    """The remediator's decisions on the trap's alert, from its audit log file."""
    if not audit_file.exists():
        return []
    lines = [json.loads(line) for line in audit_file.read_text().splitlines() if line.strip()]
    return [e for e in lines if e.get("alert") == ALERT["alertname"]]


def test_an_alert_alertmanager_repeats_every_second_restarts_the_service_once(tmp_path, alert_token_file,
                                                                              supervised_api):
    supervised_api.rpc.startProcess("api", True)
    before = spawns(supervised_api)
    port = free_port()
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "LOG_FILE": str(tmp_path / "remediator.log"),
           "REMEDIATOR_MODE": "on", "REMEDIATOR_COOLDOWN_S": str(COOLDOWN_S), "REMEDIATOR_BUDGET_PER_H": "100",
           "REMEDIATOR_ALERT_TOKEN_FILE": str(alert_token_file), "SUPERVISOR_SOCK": str(supervised_api.sock)}
    audit_file = tmp_path / "remediator-audit.jsonl"
    with launched("remediator", [sys.executable, "-m", "stack.remediator"], env, port, tmp_path / "remediator.out"), \
            _alertmanager(tmp_path, port, alert_token_file) as am:
        delivered = _fire_until(am, lambda: len(_firings(audit_file)), DELIVERIES)
    restarts = settled_spawns(supervised_api) - before
    decisions = _firings(audit_file)
    outcomes = [e["outcome"] for e in decisions]
    assert delivered >= DELIVERIES, f"Alertmanager re-sent the alert only {delivered} times"
    assert len({e["episode"] for e in decisions}) == 1, "every repeat is the same episode"
    # one action, the repeats within the cooldown skipped, the first one after it escalated (not cured), once
    assert outcomes.count("done") == 1 and outcomes[0] == "done"
    assert outcomes.count("escalated") == 1 and set(outcomes) == {"done", "skipped", "escalated"}
    assert restarts == 1, f"{restarts} restarts for {delivered} deliveries of one firing alert"


class _NaiveExecutor:
    """The design's executor: every notification's firing alerts run the action, no memory of episodes."""

    def __init__(self, port: int, supervisor_sock: str):
        self.deliveries = 0
        run = restart_service(supervisor_sock)
        executor = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                ok = self.headers.get("Authorization") == f"Bearer {ALERT_TOKEN}"
                for alert in body["alerts"] if ok else []:
                    if alert["status"] == "firing":
                        executor.deliveries += 1
                        asyncio.run(run({"service": alert["labels"]["service"]}))
                self.send_response(200 if ok else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "_NaiveExecutor":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


def test_positive_control_a_naive_executor_behind_the_same_route_restarts_on_every_repeat(
        tmp_path, alert_token_file, supervised_api):
    supervised_api.rpc.startProcess("api", True)
    before = spawns(supervised_api)
    port = free_port()
    with _NaiveExecutor(port, str(supervised_api.sock)) as naive, _alertmanager(tmp_path, port, alert_token_file) as am:
        delivered = _fire_until(am, lambda: naive.deliveries, 3)
    restarts = settled_spawns(supervised_api) - before  # Alertmanager stopped: no more deliveries
    assert delivered >= 3 and restarts >= delivered, (delivered, restarts)
