"""Probes: the measurements a pattern's claim needs that Locust's request log cannot give.

A probe runs beside the load (in a thread, with its own HTTP client, as one more
user of the stack) or reads the servers after it, and returns per-run scalars
for ``derived.parquet``: stale dashboards after a write, requests admitted over
a rate limit, publish→deliver latency of a notification, Celery tasks the metrics
missed, cache hit ratios as the servers counted them.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Iterator

import httpx
import numpy as np
import psycopg
import redis

from analysis.collect.prometheus import Prometheus
from analysis.settings import Settings
from analysis.stack import toggles
from stack.api import ratelimit

API = "/api/v1"
Values = dict[str, tuple[float, str]]


@dataclass
class ProbeContext:
    """What a probe may use: the stack's addresses, the arm's toggles, the seed scale, the run window."""

    settings: Settings
    toggles: dict[str, str]
    scale: str = "small"
    start: datetime | None = None
    end: datetime | None = None


class Probe:
    """``start`` before the load, ``finish`` after it; background probes override ``work``.

    ``checks`` names the derived metric holding how many checks the probe made in the run. A probe
    that erred (in its thread, in ``finish``, a failed login …) or made no checks reports only that
    count and its ``error``: its judged metrics have no value, so the run's verdict is "not measured"
    with the error as the reason, never a pass.
    """

    background = False
    checks: str | None = None
    join_timeout_s = 30.0

    def __init__(self):
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.error: str | None = None

    def start(self, ctx: ProbeContext) -> None:
        if self.background:
            self.spawn(self.work, ctx)

    def spawn(self, target: Callable, *args) -> threading.Thread:
        """A daemon thread whose exception becomes the probe's ``error`` (the first one wins)."""
        thread = threading.Thread(target=self._guarded, args=(target, *args), daemon=True,
                                  name=f"{type(self).__name__}.{target.__name__}")
        self._threads.append(thread)
        thread.start()
        return thread

    def finish(self, ctx: ProbeContext) -> Values:
        self._stop.set()
        for thread in list(self._threads):
            thread.join(timeout=self.join_timeout_s)
            if thread.is_alive():
                self.fail(f"{thread.name} still running {self.join_timeout_s:g} s after the run")
        try:
            values = self.values(ctx)
        except Exception as exc:
            self.fail(f"{type(exc).__name__}: {exc}")
            values = {}
        return self.vetted(values)

    def fail(self, message: str) -> None:
        self.error = self.error or message

    def vetted(self, values: Values) -> Values:
        """``values`` as they may be judged: only the check count when the probe erred or checked nothing."""
        if self.checks is None:
            return {} if self.error else values
        made = values.get(self.checks, (0, "checks"))
        if not self.error and not made[0]:
            self.fail(f"made no checks ({self.checks} = 0)")
        return {self.checks: made} if self.error else values

    def _guarded(self, target: Callable, *args) -> None:
        try:
            target(*args)
        except Exception as exc:  # a probe that broke is reported, never silently counted as zero
            self.fail(f"{type(exc).__name__}: {exc}")

    def work(self, ctx: ProbeContext) -> None:
        raise NotImplementedError

    def values(self, ctx: ProbeContext) -> Values:
        raise NotImplementedError

    def samples(self) -> list[tuple[str, float]]:
        """Per-event observations (name, value), pooled per arm by the statistics like request latencies."""
        return []


# ------------------------------------------------------------------------------ helpers
def _probe_login(scale: str, which: int = -1):
    """A seeded user the load rarely draws (the least popular by default), so the probe's own traffic
    never mixes with Locust's counters for that user."""
    from stack.api.seed import logins

    users = logins(scale)
    return users[which]


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

    Other users only add incidents, so the 24 h total after the write must exceed the one before,
    less the tenant's incidents that aged out of the 24 h window since the first dashboard was
    computed (its ``generated_at``: a cached one may be 30 s old), asked of Postgres directly, so a
    busy tenant's rolling window is never mistaken for a stale read.
    """

    background = True
    checks = "stale_checks"
    _ROLLED = ("SELECT count(*) FROM incidents WHERE tenant_id = %s "
               "AND opened_at > %s::timestamptz - interval '24 hours' AND opened_at <= now() - interval '24 hours'")

    def __init__(self, interval_s: float = 0.5):
        super().__init__()
        self.interval_s, self.checked, self.stale = interval_s, 0, 0

    def work(self, ctx: ProbeContext) -> None:
        login = _probe_login(ctx.scale, 0)  # tenant 1: the busiest, where the cache works hardest
        with _client(ctx, login) as client, psycopg.connect(ctx.settings.database_url, autocommit=True) as db:
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
        login = _probe_login(ctx.scale, -1)
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
    checks = "notifications_sent"

    def __init__(self, every_s: float = 0.15):  # ~50 notifications per 8 s run: enough for a p95 over 4 runs
        super().__init__()
        self.every_s = every_s
        self.sent: dict[int, float] = {}
        self.seen: dict[int, float] = {}
        self._subscribed = threading.Event()
        self._writing_done = threading.Event()

    def work(self, ctx: ProbeContext) -> None:
        login = _probe_login(ctx.scale, 0)
        listener = self.spawn(self._listen, ctx, login)
        self._subscribed.wait(10)
        with _client(ctx, login) as client:
            while not self._stop.wait(self.every_s):
                issued = time.monotonic()  # from the write's start: pub/sub may deliver before it returns
                incident = _new_incident(client, "notification probe")
                self.sent.setdefault(int(incident["id"]), issued)
        self._writing_done.set()
        listener.join(timeout=15)

    def _listen(self, ctx: ProbeContext, login) -> None:
        import json

        with _client(ctx, login) as client:
            # events arrive every ``every_s`` while the probe writes; a 2.5 s silence after it stopped ends the listen
            with client.stream("GET", f"{API}/notifications/stream", timeout=httpx.Timeout(10, read=2.5)) as r:
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
        latencies = self._latencies()
        out: Values = {"notifications_sent": (len(self.sent), "notifications"),
                       "notifications_missed": (len(self.sent) - len(latencies), "notifications")}
        if latencies:
            out["notify_p50_ms"] = (float(np.percentile(latencies, 50)), "ms")
            out["notify_p95_ms"] = (float(np.percentile(latencies, 95)), "ms")
        return out


class CeleryTasks(Probe):
    """P6: what the workers really did (rows in Postgres) against what the metrics counted."""

    def values(self, ctx):
        start, end = ctx.start, ctx.end
        with psycopg.connect(ctx.settings.database_url, autocommit=True) as conn:
            executed, p95 = conn.execute(
                "SELECT count(*), percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM "
                "e.created_at - i.opened_at) * 1000) FROM incident_events e JOIN incidents i ON i.id = e.incident_id "
                "WHERE e.kind = 'created' AND i.opened_at BETWEEN %s AND %s", (start, end)).fetchone()
        counted = Prometheus(ctx.settings.url("prometheus")).increase(
            'sum(celery_tasks_total{task="sentinel.incident_created",state="succeeded"})', *_scrape_window(ctx))
        seconds = max((end - start).total_seconds(), 1e-9)
        out: Values = {"tasks_executed": (executed, "tasks"), "tasks_per_s": (executed / seconds, "tasks/s"),
                       "tasks_unaccounted": (max(0.0, executed - counted), "tasks")}
        if p95 is not None:
            out["task_duration_p95_ms"] = (float(p95), "ms")
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
    "api-cache-hit-ratio": lambda: CounterRatio(
        'sum(sentinel_cache_requests_total{result!="hit"})', "sum(sentinel_cache_requests_total)",
        name="api_cache_hit_ratio", checks="api_cache_lookups"),
    "truthsync-hit-ratio": lambda: CounterRatio(
        'sum(truthsync_claims_total{cache="miss"})', "sum(truthsync_claims_total)", name="cache_hit_ratio",
        checks="cache_lookups"),
}
