"""``python -m stack.worker.bench``: what P6's instrumentation costs a task, printed, not asserted.

Starts the worker (metrics off/on as ABBA, then BAAB, and so on, so drift and
the position in a round cancel on a shared machine), on a queue of its own so it never takes the
stack's tasks, sends a burst of ``sentinel.incident_created`` and reads each
task's run time (prerun → postrun) from the worker's own JSON log, which
exists in both arms. Needs DATABASE_URL with seeded data and REDIS_URL; the
incident events it writes are deleted at the end. It also times the metric
signal handlers themselves, in this process, in multiprocess mode.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import psycopg
from celery import Celery

from stack.launch import free_port, start, stop, wait_healthy

QUEUE = "sentinel-bench"


def run_arm(metrics: str, tasks: int, incident: tuple[int, int], sender: Celery, workdir: Path) -> dict:
    port, log_file = free_port(), workdir / f"worker-{metrics}-{time.monotonic_ns()}.log"
    env = {**os.environ, "PORT": str(port), "LOG_FILE": str(log_file), "SERVICE_NAME": "worker-bench",
           "SENTINEL_CELERY_METRICS": metrics, "SENTINEL_CELERY_QUEUES": QUEUE,
           "PROMETHEUS_MULTIPROC_DIR": str(workdir / "prom")}
    worker = start("the worker", [sys.executable, "-m", "stack.worker"], env, port)
    try:
        try:
            wait_healthy(worker, timeout_s=60)
        except RuntimeError as exc:
            sys.exit(f"bench: {exc}; read {log_file}")
        started = time.perf_counter()
        results = [sender.send_task("sentinel.incident_created", args=incident, queue=QUEUE) for _ in range(tasks)]
        for result in results:
            result.get(timeout=120)
        wall = time.perf_counter() - started
        scrape_ms = _scrape_ms(port) if metrics == "on" else float("nan")
    finally:
        stop(worker.process, 60)
    runtimes = [line["duration_ms"] for line in map(json.loads, log_file.read_text().splitlines())
                if line["logger"] == "stack.worker.tasklog"]
    return {"metrics": metrics, "tasks_per_s": tasks / wall, "p50_ms": float(np.percentile(runtimes, 50)),
            "p95_ms": float(np.percentile(runtimes, 95)), "scrape_ms": scrape_ms}


def _scrape_ms(port: int, n: int = 20) -> float:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
        started = time.perf_counter()
        for _ in range(n):
            client.get("/metrics").raise_for_status()
        return (time.perf_counter() - started) * 1000 / n


def handler_cost_us(n: int = 20_000) -> float:
    """Microseconds the P6 signal handlers add to one task (started, succeeded, duration), mmap files included."""
    with tempfile.TemporaryDirectory(prefix="sentinel-bench-prom-") as prom:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = prom  # read when prometheus_client is first imported, just below
        from stack.worker import metrics

        class Task:
            name = "sentinel.bench"
        started = time.perf_counter()
        for _ in range(n):
            metrics._prerun(task=Task)
            metrics._succeeded(sender=Task)
            metrics._observe(Task.name, "SUCCESS", 0.002)
        cost = (time.perf_counter() - started) * 1e6 / n
        del os.environ["PROMETHEUS_MULTIPROC_DIR"]
    return cost


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.worker.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=500, help="tasks per arm and round")
    parser.add_argument("--rounds", type=int, default=2, help="ABBA rounds")
    args = parser.parse_args(argv)
    dsn, redis_url = os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
    if not dsn or not redis_url:
        sys.exit("bench: set DATABASE_URL and REDIS_URL (the stack's, or a scratch Postgres and Redis)")
    with psycopg.connect(dsn, autocommit=True) as conn:
        incident = conn.execute("SELECT id, tenant_id FROM incidents ORDER BY id LIMIT 1").fetchone()
        if incident is None:
            sys.exit("bench: no incidents; seed first: python -m stack.api.seed --scale small")
        last_event = conn.execute("SELECT coalesce(max(id), 0) FROM incident_events").fetchone()[0]
    sender = Celery(broker=redis_url, backend=redis_url)
    rows, load_before = [], os.getloadavg()[0]
    try:
        with tempfile.TemporaryDirectory(prefix="sentinel-worker-bench-") as workdir:
            for round_ in range(args.rounds):
                for arm in ("off", "on", "on", "off") if round_ % 2 == 0 else ("on", "off", "off", "on"):
                    rows.append(run_arm(arm, args.tasks, tuple(incident), sender, Path(workdir)))
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("DELETE FROM incident_events WHERE id > %s AND incident_id = %s", (last_event, incident[0]))
    _print(rows, args.tasks)
    print(f"the handlers alone: {handler_cost_us():.1f} µs per task")
    print(f"load average (1 min) before {load_before:.1f}, after {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: "
          "compare the arms within one run, and rerun when the machine is busy")
    return 0


def _print(rows: list[dict], tasks: int) -> None:
    print(f"sentinel.incident_created, {tasks} tasks per run, prefork concurrency 2")
    print(f"{'metrics':<8}{'tasks/s':>10}{'p50 ms':>10}{'p95 ms':>10}{'scrape ms':>11}")
    for row in rows:
        print(f"{row['metrics']:<8}{row['tasks_per_s']:>10.0f}{row['p50_ms']:>10.2f}{row['p95_ms']:>10.2f}"
              f"{row['scrape_ms']:>11.2f}")
    arm = {m: [r for r in rows if r["metrics"] == m] for m in ("off", "on")}
    for key in ("tasks_per_s", "p50_ms", "p95_ms"):
        off, on = (float(np.median([r[key] for r in arm[m]])) for m in ("off", "on"))
        print(f"median {key}: off {off:.2f}, on {on:.2f}, on/off {on / off:.3f}")


if __name__ == "__main__":
    sys.exit(main())
