"""Probes: the measurements a pattern's claim needs that Locust's request log cannot give.

A probe runs beside the load (in a thread, with its own HTTP client, as one more
user of the stack) or reads the servers after it, and returns per-run scalars
for ``derived.parquet``: stale dashboards after a write, requests admitted over
a rate limit, publish→deliver latency of a notification, Celery tasks the metrics
missed, cache hit ratios as the servers counted them.
"""
from __future__ import annotations

import json
import threading
import time
from collections import Counter
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Callable, Iterator

import httpx
import numpy as np
import pandas as pd
import psycopg
from celery import Celery
import redis

from analysis.audit_probe import PgAuditTrail
from analysis.collect import celery as celery_collect
from analysis.collect.log_source import log_source
from analysis.collect.prometheus import Prometheus
from analysis.probe_base import Probe, ProbeContext, Values
from analysis.stack import toggles
from stack.api import ratelimit
from stack.api.seed import probe_login
from stack.worker.app import INCIDENT_CREATED

API = "/api/v1"


# ------------------------------------------------------------------------------ helpers
def _probe_login():
    """The lab's probe user, alone in its own tenant (``stack.lab_probe``): the load never draws it, its
    writes touch only that tenant's incidents and cached dashboard, and the API and the worker run its
    statements as the probes' Postgres role, so none of them count as the workload's."""
    return probe_login()


@contextmanager
def _client(ctx: ProbeContext, login, max_connections: int = 10) -> Iterator[httpx.Client]:
    """An HTTP client through Nginx, logged in as ``login`` (thread-safe: threads may share it)."""
    with httpx.Client(base_url=ctx.settings.url("nginx"), timeout=30,
                      limits=httpx.Limits(max_connections=max_connections)) as client:
        r = client.post(f"{API}/auth/login", json={"username": login.username, "password": login.password})
        r.raise_for_status()
        client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        yield client


def _new_incident(client: httpx.Client, title: str) -> dict:
    r = client.post(f"{API}/incidents", json={"title": title, "severity": "low", "service": "probe"})
    r.raise_for_status()
    return r.json()


def dashboard_total(body: dict) -> int:
    """Incidents opened in the last 24 h, as the dashboard reports them."""
    return int(body["windows"]["24h"]["total"])


# ------------------------------------------------------------------------------ probes
class StaleReads(Probe):
    """P1 cache: read a dashboard, write an incident, read again; the second read must count it.

    In the probe tenant incidents are only added, so the 24 h total after the write must exceed the one
    before, less the tenant's incidents that aged out of the 24 h window since the first dashboard was
    computed (its ``generated_at``: a cached one may be 30 s old), asked of Postgres directly (as the
    probes' role), so a rolling window is never mistaken for a stale read.
    """

    background = True
    checks = "stale_checks"
    _ROLLED = ("SELECT count(*) FROM incidents WHERE tenant_id = %s "
               "AND opened_at > %s::timestamptz - interval '24 hours' AND opened_at <= now() - interval '24 hours'")

    def __init__(self, interval_s: float = 0.5):
        super().__init__()
        self.interval_s, self.checked, self.stale = interval_s, 0, 0

    def work(self, ctx: ProbeContext) -> None:
        login = _probe_login()
        with _client(ctx, login) as client, psycopg.connect(ctx.settings.probe_database_url, autocommit=True) as db:
            url = f"{API}/dashboard/{login.tenant_id}"
            while not self._stop.wait(self.interval_s):
                first = client.get(url).raise_for_status().json()
                _new_incident(client, "stale-read probe")
                after = dashboard_total(client.get(url).raise_for_status().json())
                (rolled,) = db.execute(self._ROLLED, (login.tenant_id, first["generated_at"])).fetchone()
                before = dashboard_total(first)
                self.checked += 1
                self.stale += after <= before - rolled

    def values(self, ctx):
        return {"stale_reads": (self.stale, "reads"), "stale_checks": (self.checked, "checks")}


class RateLimitBurst(Probe):
    """P1 rate limit: two bursts straddling a window boundary from a fresh key; the most requests
    admitted within any window's length, against the limit.

    The probe's keys are deleted, one request opens the window (the published limiter's window starts
    at a user's first request), then ``limit + margin`` requests go out ``concurrency`` at a time
    ``lead_s`` before that window ends, and as many again just after it ends. ``burst_admitted`` (the
    opening request and the first burst's admissions) is the clean-window check: from a fresh key any
    limiter admits at least the limit, so fewer means something else used the budget and the run is not
    measured. Over-admissions count only what provably fell within one window (see ``most_within``).
    """

    background = True
    checks = "burst_sent"

    def __init__(self, margin: int = 50, concurrency: int = 50, lead_s: float | None = None):
        super().__init__()
        self.margin, self.concurrency, self.lead_s = margin, concurrency, lead_s
        self.calls: list[tuple[float, float, int]] = []  # (sent, answered, status), monotonic seconds
        self.first_admitted = 0
        self.limit, self.window_s = 0, 0.0

    def start(self, ctx: ProbeContext) -> None:
        arm = {**toggles.defaults(), **ctx.toggles}
        self.limit = int(float(arm["SENTINEL_RATELIMIT_PER_MIN"]))
        self.window_s = float(arm["SENTINEL_RATELIMIT_WINDOW_S"])
        self.join_timeout_s = self.window_s + 60  # the second burst starts a window after the first request
        super().start(ctx)

    def work(self, ctx: ProbeContext) -> None:
        lead = self.lead_s if self.lead_s is not None else self.window_s / 3
        login = _probe_login()
        with redis.Redis.from_url(ctx.settings.redis_url) as r:  # a fresh key for every run
            r.delete(*(limiter.key(login.user_id, f"GET:{API}/incidents") for limiter in ratelimit.LIMITERS.values()))
        with _client(ctx, login, max_connections=self.concurrency) as client:
            url = f"{API}/incidents?page_size=1"  # the cheapest limited request: the limiter, not the query, is timed
            self._fire(client, url, 1, time.monotonic())
            opened_sent, opened_answered, _ = self.calls[0]
            self._fire(client, url, self.limit + self.margin, opened_sent + self.window_s - lead)
            self.first_admitted = sum(status == 200 for _, _, status in self.calls)
            self._fire(client, url, self.limit + self.margin, opened_answered + self.window_s + 0.05)

    def _fire(self, client: httpx.Client, url: str, total: int, at: float) -> None:
        """``total`` requests from ``concurrency`` threads (started beforehand) at the moment ``at``."""
        lock = threading.Lock()

        def fire(n: int) -> None:
            time.sleep(max(0.0, at - time.monotonic()))
            for _ in range(n):
                sent = time.monotonic()
                status = client.get(url).status_code
                with lock:
                    self.calls.append((sent, time.monotonic(), status))

        per = -(-total // self.concurrency)
        threads = [self.spawn(fire, min(per, total - i * per)) for i in range(self.concurrency) if total > i * per]
        for t in threads:
            t.join()

    def values(self, ctx):
        sent, answered, status = (np.array(column) for column in zip(*self.calls)) if self.calls else ([], [], [])
        admitted = np.asarray(status) == 200
        odd = [int(s) for s in status if s not in (200, 429)]
        if odd:
            self.fail(f"{len(odd)} of {len(status)} burst requests answered neither 200 nor 429 "
                      f"(first: {odd[0]}); the limiter was not what answered")
        if self.calls and self.first_admitted < self.limit:
            self.fail(f"window not clean: a fresh key admitted {self.first_admitted} of the {self.limit}-request limit "
                      "(something else used the probe's budget)")
        most = most_within(np.asarray(sent)[admitted], np.asarray(answered)[admitted], self.window_s)
        return {"burst_sent": (len(self.calls), "requests"), "burst_admitted": (self.first_admitted, "requests"),
                "burst_rejected": (int(np.sum(np.asarray(status) == 429)), "requests"),
                "window_admitted_max": (most, "requests"),
                "admitted_over_limit": (max(0, most - self.limit), "requests")}


def most_within(sent: np.ndarray, answered: np.ndarray, window_s: float) -> int:
    """The most admissions that provably fell within one window: for each admitted request, those sent
    no earlier and answered less than ``window_s`` after it was sent. The server admitted each between
    its send and its answer, so a correct sliding limiter is never charged for the network's jitter."""
    order = np.argsort(sent)
    sent, answered = np.asarray(sent)[order], np.asarray(answered)[order]
    return max((int(np.count_nonzero(answered[i:] < sent[i] + window_s)) for i in range(len(sent))), default=0)


class NotifyLatency(Probe):
    """P1 notifications: create incidents and time how long until a client on the notification stream
    sees them. The stream is the same in both arms; behind it the API either pushes from Redis pub/sub
    or polls Postgres (``SENTINEL_NOTIFY_POLL_S``), which is what the pattern compares."""

    background = True
    SILENCE_S = 20.0  # longer than the stream's 15 s keep-alive
    checks = "notifications_sent"

    def __init__(self, every_s: float = 0.1):  # ~80 notifications per 8 s run: a p95 needs 200 an arm, over 3 runs
        super().__init__()
        self.every_s = every_s
        self.sent: dict[int, float] = {}
        self.seen: dict[int, float] = {}
        self._subscribed = threading.Event()
        self._writing_done = threading.Event()

    def work(self, ctx: ProbeContext) -> None:
        login = _probe_login()
        listener = self.spawn(self._listen, ctx, login)
        # writing before the stream is open would count pub/sub's undelivered events as missed
        if not self._subscribed.wait(self.SILENCE_S) and not self.error:
            raise RuntimeError(f"the notification stream did not open within {self.SILENCE_S:.0f} s")
        with _client(ctx, login) as client:
            while not self._stop.wait(self.every_s) and not self.error:
                issued = time.monotonic()  # from the write's start: pub/sub may deliver before it returns
                incident = _new_incident(client, "notification probe")
                self.sent.setdefault(int(incident["id"]), issued)
            self._writing_done.set()
            if not self.error:  # one more, not counted: its event wakes the listener to check that all came
                _new_incident(client, "notification probe: end of run")  # (not wait for a 15 s keep-alive)
        listener.join(timeout=self.SILENCE_S + 5)

    def _listen(self, ctx: ProbeContext, login) -> None:
        """A stream that broke is the probe's failure (not measured), never notifications missed."""
        try:
            self._read_stream(ctx, login)
        except Exception as exc:
            self.error = f"notification stream: {type(exc).__name__}: {exc}"
        finally:
            self._subscribed.set()

    def _read_stream(self, ctx: ProbeContext, login) -> None:
        with _client(ctx, login) as client:
            # a pub/sub stream sends a keep-alive every 15 s; a longer silence while the probe writes is a fault,
            # and after it stopped writing, one ends the listen with what never came counted as missed
            timeout = httpx.Timeout(10, read=self.SILENCE_S)
            with client.stream("GET", f"{API}/notifications/stream", timeout=timeout) as r:
                r.raise_for_status()
                try:
                    for line in r.iter_lines():
                        self._subscribed.set()
                        if line.startswith("data:"):
                            try:
                                incident_id = json.loads(line[5:]).get("incident_id")
                            except ValueError:
                                continue
                            if incident_id is not None:
                                self.seen.setdefault(int(incident_id), time.monotonic())
                        if self._writing_done.is_set() and self.sent.keys() <= self.seen.keys():
                            return  # every probe incident arrived (other users' incidents arrive too)
                except httpx.ReadTimeout:
                    if not self._writing_done.is_set():
                        raise

    def _latencies(self) -> list[float]:
        return [(self.seen[i] - t) * 1000 for i, t in self.sent.items() if i in self.seen]

    def samples(self):
        return [("notify_ms", v) for v in self._latencies()]

    def values(self, ctx):
        if self.error:
            raise RuntimeError(self.error)
        latencies = self._latencies()
        out: Values = {"notifications_sent": (len(self.sent), "notifications"),
                       "notifications_missed": (len(self.sent) - len(latencies), "notifications")}
        if latencies:
            out["notify_p50_ms"] = (float(np.percentile(latencies, 50)), "ms")
            out["notify_p95_ms"] = (float(np.percentile(latencies, 95)), "ms")
        return out


class CeleryTasks(Probe):
    """P6: every task the worker finished (its log lines) against what its metrics counted, per task
    type and state, in both directions (missed and counted-but-never-run, never clipped at zero); and
    the task's own run time (prerun → postrun), not its wait in the queue. Beside the load it enqueues
    ``incident_created`` for an incident of its own at ``rate_per_s``, so an overhead has tasks to show
    in (the workload alone makes about one a second). Counters are read from the worker's /metrics
    before the load and after the queue drained, when only beat's tasks can run."""

    background = True
    checks = "tasks_compared"
    TIMED = INCIDENT_CREATED  # the task whose run time is judged: short, so an overhead is visible

    def __init__(self, rate_per_s: float = 20.0):
        super().__init__()
        self.rate_per_s, self.sent = rate_per_s, 0
        self._before: Counter | None = None
        self._since: datetime | None = None
        self.found: celery_collect.Reconciliation | None = None  # per task and state, for a person to read

    def start(self, ctx: ProbeContext) -> None:
        try:
            with _client(ctx, _probe_login()) as client:
                self._incident = _new_incident(client, "celery-tasks probe")
            celery_collect.wait_drained(ctx.settings.redis_url)  # the incident's own task, and the last run's
            self._before, self._since = celery_collect.quiet_count(self._metrics_url(ctx))
        except Exception as exc:  # reported by values(): a probe that could not look is not measured
            self.error = f"{type(exc).__name__}: {exc}"
            return
        super().start(ctx)

    def work(self, ctx: ProbeContext) -> None:
        sender = Celery("sentinel-lab-probe", broker=ctx.settings.redis_url, set_as_current=False)
        args = [int(self._incident["id"]), int(self._incident["tenant_id"])]
        try:
            while not self._stop.wait(1 / self.rate_per_s):
                sender.send_task(INCIDENT_CREATED, args=args, retry=False)
                self.sent += 1
        finally:
            sender.close()

    @staticmethod
    def _metrics_url(ctx: ProbeContext) -> str:
        return f"{ctx.settings.url('worker')}/metrics"

    def values(self, ctx):
        if self.error or self._before is None:
            raise RuntimeError(self.error or "the probe never started")
        celery_collect.wait_drained(ctx.settings.redis_url)
        after, until = celery_collect.quiet_count(self._metrics_url(ctx))
        lines = celery_collect.finished(log_source(ctx.settings), self._since, until)
        self.found = found = celery_collect.reconcile(celery_collect.tally(lines),
                                                      celery_collect.increase(self._before, after))
        in_run = lines[(lines["timestamp"] >= pd.Timestamp(ctx.start)) & (lines["timestamp"] < pd.Timestamp(ctx.end))]
        run_ms = lines.loc[(lines["task"] == self.TIMED) & (lines["state"] == "succeeded"), "duration_ms"]
        seconds = max((ctx.end - ctx.start).total_seconds(), 1e-9)
        out: Values = {"tasks_compared": (found.compared, "tasks"),
                       "tasks_unaccounted": (found.unaccounted, "tasks"), "tasks_missed": (found.missed, "tasks"),
                       "tasks_counted_not_run": (found.phantom, "tasks"),
                       "tasks_per_s": (len(in_run) / seconds, "tasks/s"),
                       "tasks_enqueued_by_probe": (self.sent, "tasks")}
        if len(run_ms):
            out["task_run_p50_ms"] = (float(run_ms.quantile(0.5)), "ms")
            out["task_run_p95_ms"] = (float(run_ms.quantile(0.95)), "ms")
        return out


class CounterRatio(Probe):
    """A hit ratio from the servers' own counters over the run, read from Prometheus."""

    def __init__(self, misses: str, total: str, name: str, checks: str):
        super().__init__()
        self.misses, self.total, self.name, self.checks = misses, total, name, checks

    def values(self, ctx):
        prom = Prometheus(ctx.settings.url("prometheus"))
        start, end = _scrape_window(ctx)
        total = prom.increase(self.total, start, end)
        misses = prom.increase(self.misses, start, end)
        return {self.checks: (total, "lookups"), **({self.name: ((total - misses) / total, "ratio")} if total > 0 else {})}


def _scrape_window(ctx: ProbeContext) -> tuple[datetime, datetime]:
    """The run window widened by the scrapes that straddle its edges (the caller waits for the last)."""
    pad = timedelta(seconds=ctx.settings.scrape_interval_s)
    return ctx.start - pad / 2, ctx.end + 2 * pad


PROBES: dict[str, Callable[[], Probe]] = {
    "stale-reads": StaleReads,
    "ratelimit-burst": RateLimitBurst,
    "notify-latency": NotifyLatency,
    "celery-tasks": CeleryTasks,
    "pg-audit-trail": PgAuditTrail,
    "api-cache-hit-ratio": lambda: CounterRatio(
        'sum(sentinel_cache_requests_total{result!="hit"})', "sum(sentinel_cache_requests_total)",
        name="api_cache_hit_ratio", checks="api_cache_lookups"),
    "truthsync-hit-ratio": lambda: CounterRatio(
        'sum(truthsync_claims_total{cache="miss"})', "sum(truthsync_claims_total)", name="cache_hit_ratio",
        checks="cache_lookups"),
}
