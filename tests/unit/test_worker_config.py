"""The worker's settings and broker key names: what the stack controller and Prometheus rely on."""
from __future__ import annotations

import pytest

from stack.worker.app import celery_app
from stack.worker.config import ConfigError, WorkerConfig
from stack.worker.queues import priority_keys

BASE = {"DATABASE_URL": "postgresql://u@h/db", "REDIS_URL": "redis://h:1/0"}


def test_defaults_are_the_baseline_arm():
    cfg = WorkerConfig.from_env(BASE)
    assert (cfg.metrics, cfg.concurrency, cfg.queues, cfg.port) == (False, 2, ("celery",), 8000)


def test_toggle_and_queues_are_read():
    cfg = WorkerConfig.from_env({**BASE, "SENTINEL_CELERY_METRICS": " ON ", "SENTINEL_CELERY_QUEUES": "a, b,,",
                                 "PORT": "9123"})
    assert (cfg.metrics, cfg.queues, cfg.port) == (True, ("a", "b"), 9123)


@pytest.mark.parametrize("env, message", [
    ({}, "set DATABASE_URL and REDIS_URL"),
    ({**BASE, "SENTINEL_CELERY_METRICS": "yes"}, "choose one of off, on"),
    ({**BASE, "SENTINEL_WORKER_CONCURRENCY": "two"}, "must be a number"),
    ({**BASE, "SENTINEL_SNAPSHOT_RETENTION_S": "0"}, "must be positive"),
])
def test_bad_settings_say_what_to_fix(env, message):
    with pytest.raises(ConfigError, match=message):
        WorkerConfig.from_env(env)


def test_priority_lists_match_kombu():
    assert priority_keys("celery") == ["celery", "celery\x06\x163", "celery\x06\x166", "celery\x06\x169"]


def test_task_names_and_schedule_are_the_interface():
    import stack.worker.tasks  # noqa: F401  registers the tasks

    assert {"sentinel.incident_created", "sentinel.health_snapshot", "sentinel.cleanup",
            "sentinel.tenant_report", "sentinel.outbox_sweep"} <= set(celery_app.tasks)
    schedule = {entry["task"]: entry["schedule"] for entry in celery_app.conf.beat_schedule.values()}
    assert schedule == {"sentinel.health_snapshot": 5.0, "sentinel.cleanup": 60.0, "sentinel.outbox_sweep": 5.0}


def test_worker_refuses_a_bad_toggle_with_a_message():
    import os
    import subprocess
    import sys

    env = {**os.environ, **BASE, "SENTINEL_CELERY_METRICS": "maybe"}
    done = subprocess.run([sys.executable, "-m", "stack.worker"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "SENTINEL_CELERY_METRICS='maybe': choose one of off, on" in done.stderr


def test_the_miscounting_modes_are_metrics_on_with_a_fault_for_positive_controls():
    for mode in ("drop", "duplicate"):
        cfg = WorkerConfig.from_env({**BASE, "SENTINEL_CELERY_METRICS": mode})
        assert (cfg.metrics, cfg.metrics_fault) == (True, mode)
    assert WorkerConfig.from_env({**BASE, "SENTINEL_CELERY_METRICS": "on"}).metrics_fault is None
