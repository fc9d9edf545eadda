"""The worker and beat as the lab's stack controller runs them: under supervisord, flipped by the P6 toggle."""
from __future__ import annotations

import time

import httpx
import psycopg
import pytest

pytestmark = pytest.mark.integration


def _wait(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.5)
    raise AssertionError(f"{what} not seen within {timeout}s")


def test_worker_and_beat_in_the_local_stack_with_the_p6_toggle(make_stack):
    stack = make_stack(["postgres", "redis", "worker", "beat"])
    stack.up()
    settings = stack.settings
    metrics_url = f"{settings.url('worker')}/metrics"
    assert "celery_queue_length" not in httpx.get(metrics_url, timeout=5).text

    def snapshots() -> int:
        with psycopg.connect(settings.database_url) as conn:
            return conn.execute("SELECT count(*) FROM health_snapshots WHERE redis_ok").fetchone()[0]
    _wait(snapshots, 30, "a health snapshot from beat through the worker")

    assert stack.apply({"SENTINEL_CELERY_METRICS": "on"}) == ["worker"]
    text = _wait(lambda: (t := httpx.get(metrics_url, timeout=5).text) and
                 'celery_tasks_total{state="succeeded",task="sentinel.health_snapshot"}' in t and t,
                 30, "a counted health snapshot on /metrics")
    assert 'celery_queue_length{queue="celery"}' in text
    assert "celery_workers 2.0" in text
