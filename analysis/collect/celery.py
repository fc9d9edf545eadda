"""What a Celery worker did against what its metrics counted, per task type and final state.

The truth is the worker's own JSON log: ``stack.worker.tasklog`` writes one line per finished task
(``task``, ``status``, ``duration_ms`` from prerun to postrun) whether metrics are on or off. The
count is ``celery_tasks_total{task,state}`` read straight from the worker's /metrics, the text
Prometheus scrapes, at two instants, so no rate extrapolation blurs a single task.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone

import httpx
import pandas as pd
import redis
from prometheus_client.parser import text_string_to_metric_families

from analysis.collect.logs import LogQuery, LogSource
from stack.worker.queues import queue_lengths

#: a finished task's status in the worker's log → its state label in ``celery_tasks_total``
STATES = {"SUCCESS": "succeeded", "FAILURE": "failed", "RETRY": "retried"}
Tally = Counter  # (task, state) → tasks


def counted(metrics_url: str) -> Tally:
    """``celery_tasks_total`` of every finished state, per (task, state); empty when metrics are off."""
    r = httpx.get(metrics_url, timeout=10)
    r.raise_for_status()
    tally: Tally = Counter()
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            if sample.name == "celery_tasks_total" and sample.labels.get("state") in STATES.values():
                tally[(sample.labels["task"], sample.labels["state"])] += sample.value
    return tally


def quiet_count(metrics_url: str, quiet_s: float = 0.3, timeout_s: float = 20.0) -> tuple[Tally, datetime]:
    """The counters at a moment no task finished for ``quiet_s`` around it (two equal reads), and that
    moment: a task counted before it logged its line before it too, so log lines and counters split
    at the same instant, with no task straddling the edge."""
    deadline = time.monotonic() + timeout_s
    first = counted(metrics_url)
    while True:
        began = datetime.now(timezone.utc)
        time.sleep(quiet_s)
        ended = datetime.now(timezone.utc)
        second = counted(metrics_url)
        if second == first:
            return second, began + (ended - began) / 2
        if time.monotonic() > deadline:
            raise RuntimeError(f"the worker's task counters never stood still for {quiet_s} s in {timeout_s:.0f} s; "
                               "is something else enqueueing tasks?")
        first = second


def finished(source: LogSource, start: datetime, end: datetime, service: str = "worker") -> pd.DataFrame:
    """The worker's per-task lines in [start, end): ``timestamp``, ``task``, ``state`` (the counter's
    label), ``duration_ms``."""
    lines = source.lines(LogQuery(service=service, start=start, end=end))
    lines = lines[lines["task"].notna() & lines["duration_ms"].notna()]
    return pd.DataFrame({"timestamp": lines["timestamp"], "task": lines["task"].astype(str),
                         "state": lines["status"].map(lambda s: STATES.get(s, str(s).lower())),
                         "duration_ms": lines["duration_ms"].astype(float)}).reset_index(drop=True)


@dataclass(frozen=True)
class Reconciliation:
    """Tasks that ran against tasks counted, per (task, state), never clipped at zero."""

    compared: int  # tasks the log says finished: the check count
    missed: int  # ran, not counted
    phantom: int  # counted, never ran (or counted twice)
    differences: tuple[tuple[str, str, int], ...] = ()  # (task, state, counted − ran) where they differ

    @property
    def unaccounted(self) -> int:
        return self.missed + self.phantom


def increase(before: Tally, after: Tally) -> Tally:
    """What the counters rose by, kept negative if one fell (a restarted worker): ``after - before``
    would drop it."""
    return Counter({k: after[k] - before[k] for k in set(before) | set(after)})


def reconcile(ran: Tally, count: Tally) -> Reconciliation:
    keys = set(ran) | set(count)
    missed = sum(max(0, ran[k] - count[k]) for k in keys)
    phantom = sum(max(0, count[k] - ran[k]) for k in keys)
    differences = tuple(sorted((task, state, int(count[(task, state)] - ran[(task, state)]))
                               for task, state in keys if count[(task, state)] != ran[(task, state)]))
    return Reconciliation(int(sum(ran.values())), int(missed), int(phantom), differences)


def tally(lines: pd.DataFrame) -> Tally:
    return Counter({k: int(n) for k, n in lines.groupby(["task", "state"]).size().items()})


def wait_drained(redis_url: str, queues: tuple[str, ...] = ("celery",), settle_s: float = 1.0,
                 timeout_s: float = 30.0) -> None:
    """Until the broker's queues are empty, then ``settle_s`` more for the tasks in flight to finish."""
    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    try:
        deadline = time.monotonic() + timeout_s
        while sum(queue_lengths(client, queues).values()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the worker left tasks in {', '.join(queues)} for {timeout_s:.0f} s; "
                                   "is it running? (sentinel-lab status)")
            time.sleep(0.2)
    finally:
        client.close()
    time.sleep(settle_s)
