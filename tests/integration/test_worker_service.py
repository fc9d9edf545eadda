"""The Celery worker and beat as the stack runs them: real subprocesses on real Postgres and Redis."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from datetime import datetime, timedelta, timezone

import httpx
import psutil
import psycopg
import pytest
from celery import Celery
from prometheus_client.parser import text_string_to_metric_families
from stack.launch import free_port
from worker_support import _env, running, wait_for, wait_healthy

pytestmark = pytest.mark.integration


def samples(base: str) -> dict[tuple, float]:
    text = httpx.get(f"{base}/metrics", timeout=5).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def sample(metrics: dict, name: str, **labels) -> float | None:
    return metrics.get((name, tuple(sorted(labels.items()))))


def stop_group(proc: subprocess.Popen) -> list[int]:
    """SIGTERM the process group; returns the pids that were in it, for the no-orphan check."""
    family = [proc.pid] + [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
    os.killpg(proc.pid, signal.SIGTERM)
    assert proc.wait(30) == 0
    return family


def assert_gone(pids: list[int]) -> None:
    def gone():
        return not [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    wait_for(gone, 10, f"processes {pids} gone")


def test_worker_with_metrics_counts_tasks_across_processes_and_sees_a_backlog(worker_db, redis_url, tmp_path):
    redis = redis_url.rsplit("/", 1)[0] + "/3"
    port, log_file = free_port(), tmp_path / "worker.log"
    env = _env(worker_db, redis, log_file, PORT=str(port), SERVICE_NAME="worker", SENTINEL_CELERY_METRICS="on",
               PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prom"))
    (tmp_path / "prom").mkdir()
    (tmp_path / "prom" / "counter_1.db").write_bytes(b"stale")  # a previous run's file must not survive
    base = f"http://127.0.0.1:{port}"
    sender = Celery(broker=redis, backend=redis)
    with running("stack.worker", env, tmp_path / "worker.out") as proc:
        wait_healthy(base, proc, tmp_path / "worker.out")
        assert not (tmp_path / "prom" / "counter_1.db").exists()
        with psycopg.connect(worker_db) as conn:
            incident_ids = [r[0] for r in conn.execute("SELECT id FROM incidents ORDER BY id")]
        results = [sender.send_task("sentinel.incident_created", args=(incident_ids[i % 3], 1)) for i in range(12)]
        missing = sender.send_task("sentinel.incident_created", args=(999999, 1))
        expired = sender.send_task("sentinel.tenant_report", args=(1,),
                                   expires=datetime.now(timezone.utc) - timedelta(seconds=5))
        reports = [sender.send_task("sentinel.tenant_report", args=(1,)) for _ in range(2)]
        event_ids = [r.get(timeout=30) for r in results]
        report_ids = [r.get(timeout=30) for r in reports]
        with pytest.raises(Exception, match="does not exist"):
            missing.get(timeout=30)

        with psycopg.connect(worker_db) as conn:
            assert conn.execute("SELECT count(*) FROM incident_events WHERE kind = 'created'").fetchone()[0] == 12
            assert len(set(event_ids)) == 12
            report = conn.execute("SELECT report FROM tenant_reports WHERE id = %s", (report_ids[0],)).fetchone()[0]
        assert report["incidents"] == 3
        assert report["by_status"] == {"open": 1, "acknowledged": 1, "resolved": 1}
        assert report["top_services"][0] == {"service": "billing", "incidents": 2}
        assert 3000 < report["mttr_s"] < 4200

        m = wait_for(lambda: (m := samples(base)) and sample(
            m, "celery_task_duration_seconds_count", task="sentinel.incident_created") == 13 and m,
            10, "13 durations of sentinel.incident_created")
        counts = {state: sample(m, "celery_tasks_total", task="sentinel.incident_created", state=state)
                  for state in ("received", "started", "succeeded", "failed")}
        assert counts == {"received": 13, "started": 13, "succeeded": 12, "failed": 1}
        assert sample(m, "celery_tasks_total", task="sentinel.tenant_report", state="succeeded") == 2
        wait_for(lambda: expired.state == "REVOKED", 10, "the expired task revoked")
        assert sample(samples(base), "celery_tasks_total", task="sentinel.tenant_report", state="revoked") == 1
        assert sample(m, "celery_workers") == 2  # both prefork children, merged from their own files

        # a backlog: the worker stops consuming, tasks pile up in the broker, the gauge shows them
        hostname = f"worker@{socket.gethostname()}"
        assert sender.control.cancel_consumer("celery", destination=[hostname], reply=True, timeout=5)
        backlog = [sender.send_task("sentinel.tenant_report", args=(2,)) for _ in range(7)]
        assert sample(samples(base), "celery_queue_length", queue="celery") == 7
        assert sender.control.add_consumer("celery", destination=[hostname], reply=True, timeout=5)
        [r.get(timeout=30) for r in backlog]
        assert sample(samples(base), "celery_queue_length", queue="celery") == 0

        # Postgres drops the worker's connections: the next tasks fail once, are retried and reconnect
        with psycopg.connect(worker_db, autocommit=True) as conn:
            assert conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                "WHERE application_name = 'sentinel-worker'").fetchone()[0] >= 1
        again = [sender.send_task("sentinel.tenant_report", args=(1,)) for _ in range(2)]
        assert all(isinstance(r.get(timeout=30), int) for r in again)
        assert sample(samples(base), "celery_tasks_total", task="sentinel.tenant_report", state="retried") >= 1

        family = stop_group(proc)
    assert_gone(family)
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert {"timestamp", "level", "logger", "message", "service"} <= set(lines[-1])
    done = [line for line in lines if line["logger"] == "stack.worker.tasklog"]
    created = [line for line in done if line["task"] == "sentinel.incident_created"]
    assert [line["status"] for line in created].count("SUCCESS") == 12
    assert all(line["tenant"] == 1 and line["duration_ms"] > 0 and line["request_id"] for line in created)
    assert len({line["request_id"] for line in created}) == 13  # the task id, one per task
    assert [line["level"] for line in lines if line["logger"] == "celery.app.trace"] == ["ERROR"]


def test_worker_without_metrics_exports_no_task_metrics_and_beat_takes_snapshots(worker_db, redis_url, tmp_path):
    redis = redis_url.rsplit("/", 1)[0] + "/4"
    port = free_port()
    env = _env(worker_db, redis, tmp_path / "worker.log", PORT=str(port), SERVICE_NAME="worker",
               SENTINEL_CELERY_METRICS="off")
    beat_env = _env(worker_db, redis, tmp_path / "beat.log", SERVICE_NAME="beat",
                    SENTINEL_BEAT_DIR=str(tmp_path / "beat"))
    base = f"http://127.0.0.1:{port}"
    with running("stack.worker", env, tmp_path / "worker.out") as proc, \
            running("stack.worker.beat", beat_env, tmp_path / "beat.out") as beat:
        wait_healthy(base, proc, tmp_path / "worker.out")

        def snapshots():
            with psycopg.connect(worker_db) as conn:
                return conn.execute("SELECT open_incidents, db_ms, redis_ok, queue_lengths FROM health_snapshots "
                                    "ORDER BY id").fetchall()
        rows = wait_for(lambda: len(snapshots()) >= 2 and snapshots(), 30, "two health snapshots from beat")
        assert rows[0][0] == 2 and rows[0][1] > 0 and rows[0][2] is True and "celery" in rows[0][3]
        assert (tmp_path / "beat" / "celerybeat-schedule").exists() or list((tmp_path / "beat").iterdir())

        response = httpx.get(f"{base}/metrics", timeout=5)
        assert response.status_code == 200
        assert "celery_tasks_total" not in response.text and "celery_queue_length" not in response.text

        os.killpg(beat.pid, signal.SIGTERM)
        assert beat.wait(20) == 0
        assert_gone(stop_group(proc))
    beat_lines = [json.loads(line) for line in (tmp_path / "beat.log").read_text().splitlines()]
    assert any("sentinel.health_snapshot" in line["message"] for line in beat_lines)


def test_sigterm_to_the_group_lets_the_running_task_finish(worker_db, redis_url, tmp_path):
    redis = redis_url.rsplit("/", 1)[0] + "/5"
    port = free_port()
    env = _env(worker_db, redis, tmp_path / "worker.log", PORT=str(port), SERVICE_NAME="worker")
    sender = Celery(broker=redis, backend=redis)
    with running("stack.worker", env, tmp_path / "worker.out") as proc:
        wait_healthy(f"http://127.0.0.1:{port}", proc, tmp_path / "worker.out")
        with psycopg.connect(worker_db) as lock:  # the report's INSERT waits on this lock: a task mid-run
            lock.execute("LOCK TABLE tenant_reports IN ACCESS EXCLUSIVE MODE")
            result = sender.send_task("sentinel.tenant_report", args=(1,))
            wait_for(lambda: lock.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()[0],
                     20, "the task waiting on the lock")
            family = [proc.pid] + [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
            os.killpg(proc.pid, signal.SIGTERM)
            time.sleep(1)
            assert proc.poll() is None, "the worker must wait for its running task"
        assert proc.wait(30) == 0
        assert isinstance(result.get(timeout=5), int)
    assert_gone(family)
    levels = {json.loads(line)["level"] for line in (tmp_path / "worker.log").read_text().splitlines()}
    assert "ERROR" not in levels
