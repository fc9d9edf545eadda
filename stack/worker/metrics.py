"""P6: Celery task metrics for Prometheus, correct under the prefork pool.

Tasks run in child processes while /metrics is served by the parent, so every
value lives in prometheus_client's multiprocess files (PROMETHEUS_MULTIPROC_DIR,
set by ``multiproc_dir.prepare`` before prometheus_client is imported) and the
scrape merges them with ``MultiProcessCollector``. Queue lengths are read from
the broker at scrape time, so a backlog shows even when no worker takes tasks.
"""
from __future__ import annotations

import itertools
import logging
import os

import redis
from celery import signals
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from prometheus_client.core import GaugeMetricFamily

from stack.worker import tasklog
from stack.worker.queues import queue_lengths

log = logging.getLogger("stack.worker.metrics")

TASKS = Counter("celery_tasks", "Celery tasks by name and state", ["task", "state"])
DURATION = Histogram("celery_task_duration_seconds", "Task run time, prerun to postrun", ["task"],
                     buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60))
WORKERS = Gauge("celery_workers", "Live worker pool processes", multiprocess_mode="livesum")

def _name(sender=None, request=None) -> str:
    return getattr(sender, "name", None) or getattr(request, "name", None) or "unknown"


@signals.task_received.connect
def _received(request=None, **_):
    TASKS.labels(_name(request=request), "received").inc()


@signals.task_prerun.connect
def _prerun(task=None, **_):
    TASKS.labels(_name(task), "started").inc()


def _observe(task: str, state: str, seconds: float) -> None:
    DURATION.labels(task).observe(seconds)


tasklog.on_finished.append(_observe)  # prerun → postrun, timed once for the log line and the histogram


#: every this many finished tasks (per pool process), a miscounting mode drops or doubles one count
MISCOUNT_EVERY = 5
_fault: str | None = None
_finished = itertools.count(1)


def miscount(fault: str | None) -> None:
    """Positive control only (SENTINEL_CELERY_METRICS=drop|duplicate): leave every MISCOUNT_EVERY-th
    finished task uncounted (``drop``) or count it twice (``duplicate``), so a test can show the lab's
    probe finds unaccounted tasks in both directions. Called before the pool forks."""
    global _fault
    _fault = fault


def _count_finished(task: str, state: str) -> None:
    times = 1
    if _fault and next(_finished) % MISCOUNT_EVERY == 0:
        times = 0 if _fault == "drop" else 2
    if times:
        TASKS.labels(task, state).inc(times)


@signals.task_success.connect
def _succeeded(sender=None, **_):
    _count_finished(_name(sender), "succeeded")


@signals.task_failure.connect
def _failed(sender=None, **_):
    _count_finished(_name(sender), "failed")


@signals.task_retry.connect
def _retried(sender=None, request=None, **_):
    TASKS.labels(_name(sender, request), "retried").inc()


@signals.task_revoked.connect
def _revoked(sender=None, request=None, **_):
    TASKS.labels(_name(sender, request), "revoked").inc()


@signals.worker_process_init.connect
def _child_up(**_):
    WORKERS.inc()


@signals.worker_process_shutdown.connect
def _child_down(pid=None, **_):
    """A pool child's live gauges go with it (its counters stay: they are history)."""
    multiprocess.mark_process_dead(pid or os.getpid())


class QueueLengths:
    """``celery_queue_length{queue}``, read from the Redis broker on each scrape."""

    def __init__(self, redis_url: str, queues: tuple[str, ...]):
        self.client = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
        self.queues = queues

    def collect(self):
        family = GaugeMetricFamily("celery_queue_length", "Messages waiting in the broker queue", labels=["queue"])
        try:
            lengths = queue_lengths(self.client, self.queues)
        except redis.RedisError as exc:
            log.warning("queue lengths not read from the broker: %s", exc)
            return
        for queue, length in lengths.items():
            family.add_metric([queue], length)
        yield family


def registry(redis_url: str, queues: tuple[str, ...]) -> CollectorRegistry:
    """What /metrics serves with metrics on: every process's task metrics plus the broker's queues."""
    reg = CollectorRegistry()
    multiprocess.MultiProcessCollector(reg)
    reg.register(QueueLengths(redis_url, queues))
    return reg
