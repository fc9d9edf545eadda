"""The worker's settings, read once from the environment at start (names are the lab's interface)."""
from __future__ import annotations

import os
from dataclasses import dataclass

from stack.envconfig import ConfigError, number
from stack.toggle_spec import ONOFF, TOGGLES
from stack.worker.app import VISIBILITY_TIMEOUT_S


@dataclass(frozen=True)
class WorkerConfig:
    database_url: str
    redis_url: str
    probe_database_url: str | None = None  # PROBE_DATABASE_URL: the probe tenant's tasks (stack.lab_probe)
    host: str = "127.0.0.1"
    port: int = 8000
    service_name: str = "worker"
    log_file: str | None = None
    metrics: bool = False  # SENTINEL_CELERY_METRICS=on (or a miscounting mode)
    metrics_fault: str | None = None  # SENTINEL_CELERY_METRICS=drop|duplicate: a positive-control switch
    concurrency: int = 2  # SENTINEL_WORKER_CONCURRENCY
    queues: tuple[str, ...] = ("celery",)  # SENTINEL_CELERY_QUEUES, comma-separated
    snapshot_retention_s: int = 3600  # SENTINEL_SNAPSHOT_RETENTION_S
    event_retention_s: int = 7 * 86400  # SENTINEL_EVENT_RETENTION_S
    outbox_sweep: bool = True  # SENTINEL_OUTBOX_SWEEP=off only to show what it prevents (a positive control)
    #: SENTINEL_OUTBOX_RESEND_S: an outbox task pending this long after its last send is sent again
    outbox_resend_s: float = float(VISIBILITY_TIMEOUT_S)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "WorkerConfig":
        env = dict(os.environ if env is None else env)
        missing = [n for n in ("DATABASE_URL", "REDIS_URL") if not env.get(n)]
        if missing:
            raise ConfigError(f"set {' and '.join(missing)} (postgresql://… and redis://…) before starting the worker")
        metrics = TOGGLES["SENTINEL_CELERY_METRICS"].read(env)
        sweep = env.get("SENTINEL_OUTBOX_SWEEP", "on").strip().lower()
        if sweep not in ONOFF:
            raise ConfigError(f"SENTINEL_OUTBOX_SWEEP={sweep!r}: choose one of {', '.join(ONOFF)}")
        queues = tuple(q.strip() for q in (env.get("SENTINEL_CELERY_QUEUES") or "celery").split(",") if q.strip())
        return cls(
            database_url=env["DATABASE_URL"], redis_url=env["REDIS_URL"],
            probe_database_url=env.get("PROBE_DATABASE_URL") or None,
            host=env.get("HOST") or "127.0.0.1", port=number(env, "PORT", 8000, int),
            service_name=env.get("SERVICE_NAME") or "worker", log_file=env.get("LOG_FILE") or None,
            metrics=metrics != "off", metrics_fault=None if metrics in ("off", "on") else metrics,
            concurrency=number(env, "SENTINEL_WORKER_CONCURRENCY", 2, int),
            queues=queues or ("celery",),
            snapshot_retention_s=number(env, "SENTINEL_SNAPSHOT_RETENTION_S", 3600, int),
            event_retention_s=number(env, "SENTINEL_EVENT_RETENTION_S", 7 * 86400, int),
            outbox_sweep=sweep == "on",
            outbox_resend_s=number(env, "SENTINEL_OUTBOX_RESEND_S", float(VISIBILITY_TIMEOUT_S)),
        )
