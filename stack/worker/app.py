"""The Celery app on the Redis broker, shared by the worker, beat and any sender.

Importing it has no side effect beyond creating the app, so the API may import it
to ``send_task``; the worker's metrics hooks are connected by ``python -m stack.worker``.
"""
from __future__ import annotations

import logging
import os

from celery import Celery, signals

from stack import jsonlog

REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
#: a message taken but not acknowledged (its worker was killed) goes back to the queue after this long;
#: every task must finish well within it, hence the hard time limit below
VISIBILITY_TIMEOUT_S = int(os.environ.get("SENTINEL_VISIBILITY_TIMEOUT_S") or 20)

#: task names are an interface: the API sends them by name
INCIDENT_CREATED = "sentinel.incident_created"
HEALTH_SNAPSHOT = "sentinel.health_snapshot"
CLEANUP = "sentinel.cleanup"
TENANT_REPORT = "sentinel.tenant_report"
OUTBOX_SWEEP = "sentinel.outbox_sweep"

celery_app = Celery("sentinel", broker=REDIS_URL, backend=REDIS_URL, include=["stack.worker.tasks"])
celery_app.conf.update(
    task_serializer="json", result_serializer="json", accept_content=["json"],
    result_expires=3600,
    # one message per child at a time: a backlog stays in the broker list, where the queue gauge sees it
    worker_prefetch_multiplier=1,
    # acknowledged only once done: a worker killed mid-task loses nothing, the message is delivered again
    # (tasks are idempotent, so a second run has no second effect)
    task_acks_late=True, task_reject_on_worker_lost=True,
    task_time_limit=max(VISIBILITY_TIMEOUT_S - 5, 1),
    broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_S, "unacked_restore_interval": 1,
                              "unacked_restore_throttle": 1},
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    enable_utc=True,
    beat_schedule={
        # a snapshot older than its period is worthless: let it expire rather than pile up
        "health-snapshot": {"task": HEALTH_SNAPSHOT, "schedule": 5.0, "options": {"expires": 10}},
        "cleanup": {"task": CLEANUP, "schedule": 60.0, "options": {"expires": 120}},
        # re-sends outbox tasks whose message was lost (stack.worker.tasks.outbox_sweep)
        "outbox-sweep": {"task": OUTBOX_SWEEP, "schedule": 5.0, "options": {"expires": 10}},
    },
)


@signals.setup_logging.connect
def _json_lines(**_) -> None:
    """Celery's own logs (and the tasks') go to LOG_FILE as JSON lines, like every other service."""
    jsonlog.configure(os.environ.get("LOG_FILE"), os.environ.get("SERVICE_NAME") or "worker")
    # stack.worker.tasklog writes the line per finished task; Celery keeps its warnings and failures
    logging.getLogger("celery.app.trace").setLevel(logging.WARNING)
