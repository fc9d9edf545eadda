"""``python -m stack.worker``: the Celery worker (prefork) with /health, and /metrics when P6 is on.

Order matters: PROMETHEUS_MULTIPROC_DIR must exist, empty, before prometheus_client
is first imported, so the modules that import it are imported inside ``main``.
"""
from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from celery import signals

from stack import jsonlog
from stack.worker.config import ConfigError, WorkerConfig


def prepare_multiproc_dir(service: str) -> Path | None:
    """PROMETHEUS_MULTIPROC_DIR (given, or a fresh temp dir), emptied: last run's values must not count.
    Returns the directory to remove at exit (the temp one), None when it was given."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    path = Path(given) if given else Path(tempfile.mkdtemp(prefix=f"sentinel-{service}-metrics-"))
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    return None if given else path


@signals.worker_process_init.connect
def _finish_the_running_task(**_) -> None:
    """Supervisord sends SIGTERM to the whole group: a pool child ignores it and lets the parent's
    warm shutdown wait for its task, instead of dying mid-task (a lost task and an ERROR line)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def main() -> None:
    try:
        cfg = WorkerConfig.from_env()
    except ConfigError as exc:
        sys.exit(f"worker: {exc}")
    jsonlog.configure(cfg.log_file, cfg.service_name)
    temp_dir = None
    if cfg.metrics:
        temp_dir = prepare_multiproc_dir(cfg.service_name)
    else:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)  # baseline arm: no shared metric files at all
    try:
        run(cfg)
    finally:
        if temp_dir:
            shutil.rmtree(temp_dir, ignore_errors=True)


def run(cfg: WorkerConfig) -> None:
    import psycopg

    from stack.api.db import apply_schema
    from stack.worker import server
    from stack.worker.app import celery_app

    try:
        apply_schema(cfg.database_url)
    except psycopg.OperationalError as exc:
        sys.exit(f"worker: cannot reach Postgres to apply the schema ({exc}); check DATABASE_URL")
    try:
        if cfg.metrics:
            from stack.worker import metrics  # connects the task signal handlers
            metrics.miscount(cfg.metrics_fault)
            server.serve(cfg.host, cfg.port, metrics.registry(cfg.redis_url, cfg.queues))
        else:
            server.serve(cfg.host, cfg.port)
    except OSError as exc:
        sys.exit(f"worker: cannot listen on {cfg.host}:{cfg.port} ({exc}); pick a free PORT")
    logging.getLogger("stack.worker").info("worker starting", extra={
        "metrics": cfg.metrics, "concurrency": cfg.concurrency, "queues": list(cfg.queues)})
    celery_app.conf.broker_url = celery_app.conf.result_backend = cfg.redis_url
    celery_app.worker_main(["worker", "--pool=prefork", f"--concurrency={cfg.concurrency}",
                            f"--queues={','.join(cfg.queues)}", f"--hostname={cfg.service_name}@%h",
                            "--loglevel=INFO", "--without-mingle", "--without-gossip"])


if __name__ == "__main__":
    main()
