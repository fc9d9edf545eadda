"""Fault timelines as data, and their injection for real.

A timeline is a seeded, reproducible list of labelled windows laid over a
background load: each window is a fault class (or a benign event that looks
like trouble but is not) with a start, a duration and an intensity. It is the
ground truth that alert backtests score rules against, stored with every run.
``inject`` plays a timeline against the running stack: the API's token-guarded
fault endpoint, services stopped and started under supervisord, floods from
other loopback addresses than the lab's load generator.
"""
from __future__ import annotations

import random
import socket
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Callable

import httpx
import pandas as pd
import redis

from analysis.settings import Settings
from stack.api.seed import logins

#: fault class → (duration range in s, intensity); the intensity's unit is the class's own.
FAULTS: dict[str, tuple[tuple[float, float], float]] = {
    "api-5xx": ((4, 5), 0.3),          # share of API requests answered 500 (with an ERROR log line)
    "api-latency": ((4, 5), 600),      # ms added to every API request
    "redis-down": ((4, 5), 1),         # Redis stopped
    "worker-stopped": ((4, 5), 1),     # the Celery worker stopped (SIGSTOP: frozen, then SIGCONT)
    "slow-postgres": ((4, 5), 1),      # a 0.5 s pg_sleep on every API request
    "http-flood": ((4, 5), 12),        # concurrent clients requesting as fast as they can
    "slow-flood": ((4, 5), 60),        # connections sending an incomplete request, a header a second
}
#: benign look-alikes: not faults, an alert during one is a false alert.
BENIGN: dict[str, tuple[tuple[float, float], float]] = {
    "load-spike": ((3, 4), 8),         # extra normal users (a read a second each) from the lab's address
    "api-restart": ((3, 4), 1),        # a rolling restart of the API process
    "cache-flush": ((3, 4), 1),        # the dashboard cache and TruthSync's shared cache emptied
}
LEAD_IN_S = 8.0  # the load settles (rate windows fill) before the first window; never scored
#: quiet stretch after a fault: its rate[5s] signals linger 5 s plus a scrape once it ends, so a shorter
#: gap would leave its alert firing into the next window and hide a same-signal fault's detection
GAP_S = (4.0, 4.5)
#: after a benign event: nothing of it must be detected, so a shorter stretch blinds no rule
BENIGN_GAP_S = (2.0, 3.0)
TAIL_S = 6.0  # after the last window, so alerts can reset inside the timeline
THINK_S = 1.0  # a normal user's pause between requests (load spike)
FLOOD_SOURCE, SLOW_SOURCE = "127.0.0.2", "127.0.0.3"  # not the load generator's 127.0.0.1
API = "/api/v1"


@dataclass(frozen=True)
class Window:
    kind: str
    start_s: float  # from the timeline's start
    duration_s: float
    intensity: float
    benign: bool

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


@dataclass(frozen=True)
class Timeline:
    seed: int
    windows: tuple[Window, ...]
    length_s: float
    lead_in_s: float = LEAD_IN_S


def generate(seed: int, kinds: tuple[str, ...] = (*FAULTS, *BENIGN)) -> Timeline:
    """Every class in ``kinds`` once, in a seeded order, with seeded durations and gaps."""
    rng = random.Random(seed)
    order = list(kinds)
    rng.shuffle(order)
    t, windows, end = LEAD_IN_S, [], LEAD_IN_S
    for kind in order:
        (low, high), intensity = FAULTS.get(kind) or BENIGN[kind]
        duration = round(rng.uniform(low, high), 1)
        windows.append(Window(kind, t, duration, intensity, kind in BENIGN))
        end = t + duration
        t = round(end + rng.uniform(*(BENIGN_GAP_S if kind in BENIGN else GAP_S)), 1)
    return Timeline(seed, tuple(windows), round(end + TAIL_S, 1))


# ------------------------------------------------------------------------------ injection
class Injector:
    """Puts one window's fault on the stack (``begin``) and takes it off (``end``)."""

    def __init__(self, settings: Settings, stack, window: Window, scale: str = "small"):
        self.settings, self.stack, self.window, self.scale = settings, stack, window, scale
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._client: httpx.Client | None = None
        self.sent = 0  # requests or connections a flood made: a flood that sent nothing failed
        self.error: str | None = None

    def begin(self) -> None:
        kind, w = self.window.kind, self.window
        if kind == "api-5xx":
            self._api_faults(error_rate=w.intensity, log_errors=True)
        elif kind == "api-latency":
            self._api_faults(latency_ms=int(w.intensity))
        elif kind == "slow-postgres":
            self._api_faults(slow_queries=True)
        elif kind == "redis-down":
            self.stack.supervisor.rpc.stopProcess("redis", True)
        elif kind == "worker-stopped":  # frozen at once; a warm shutdown would wait for its tasks
            self.stack.supervisor.rpc.signalProcess("worker", "STOP")
        elif kind == "http-flood":
            self._client = self._flood_client()
            self._spawn(int(w.intensity), self._flood)
        elif kind == "slow-flood":
            self._spawn(1, self._slow_flood)
        elif kind == "load-spike":
            self._spawn(int(w.intensity), self._normal_user)
        elif kind == "api-restart":
            self.stack.restart(["api"])
        elif kind == "cache-flush":
            client = redis.Redis.from_url(self.settings.redis_cache_url)
            try:
                for prefix in ("sentinel:cache:", "ts:v1:"):
                    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
                    if keys:
                        client.unlink(*keys)
            finally:
                client.close()
        else:
            raise ValueError(f"unknown fault class {kind!r}; known: {', '.join((*FAULTS, *BENIGN))}")

    def end(self) -> None:
        kind = self.window.kind
        self._stop.set()
        for t in self._threads:
            t.join(timeout=10)
        if self._client is not None:
            self._client.close()
        if kind in ("api-5xx", "api-latency", "slow-postgres"):
            r = httpx.delete(self.settings.url("api") + f"{API}/admin/faults", headers=self._admin(), timeout=10)
            r.raise_for_status()
        elif kind == "redis-down":
            self._start("redis")
        elif kind == "worker-stopped":
            self.stack.supervisor.rpc.signalProcess("worker", "CONT")
        if kind in ("http-flood", "slow-flood", "load-spike") and not self.sent:
            raise RuntimeError(f"{kind}: no request was sent ({self.error or 'no error recorded'})")

    # ------------------------------------------------------------------ the faults
    def _start(self, name: str, timeout_s: float = 60.0) -> None:
        """Start a stopped service again and wait until it is healthy."""
        deadline = time.monotonic() + timeout_s
        self.stack.supervisor.rpc.startProcess(name, True)
        while time.monotonic() < deadline:
            if any(s.name == name and s.state == "healthy" for s in self.stack.status()):
                return
            time.sleep(0.2)
        raise RuntimeError(f"{name} did not come back healthy within {timeout_s:g} s after the fault; "
                           "see its log under the run directory's logs/")

    def _admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.secret('admin_token')}"}

    def _api_faults(self, **faults) -> None:
        body = {**faults, "duration_s": self.window.duration_s + 5}  # ends by itself if the lab dies
        r = httpx.post(self.settings.url("api") + f"{API}/admin/faults", json=body, headers=self._admin(), timeout=10)
        r.raise_for_status()

    def _spawn(self, n: int, target: Callable[[], None]) -> None:
        for i in range(n):
            t = threading.Thread(target=self._guarded, args=(target,), daemon=True, name=f"{self.window.kind}-{i}")
            t.start()
            self._threads.append(t)

    def _guarded(self, target: Callable[[], None]) -> None:
        try:
            target()
        except Exception as exc:  # reported by end() when nothing was sent
            self.error = f"{type(exc).__name__}: {exc}"

    def _flood_client(self) -> httpx.Client:
        """One client for every flood thread, made before they start (a client per thread costs each an
        SSL context: on a busy machine the window could end before a thread sent anything)."""
        return httpx.Client(base_url=self.settings.url("nginx"), timeout=2,
                            transport=httpx.HTTPTransport(local_address=FLOOD_SOURCE),
                            limits=httpx.Limits(max_connections=int(self.window.intensity)))

    def _flood(self) -> None:
        """As fast as one client can, from another loopback address (the limit_req zone applies)."""
        while not self._stop.is_set():
            self.sent += 1  # sent, whatever comes back: a flood does not wait for its answers
            try:
                self._client.get(f"{API}/incidents")
            except httpx.TimeoutException:
                pass

    def _slow_flood(self) -> None:
        """Slowloris: many connections, each an incomplete request that gets one more header a second."""
        socks = []
        try:
            for _ in range(int(self.window.intensity)):
                s = socket.create_connection((self.settings.host, self.settings.port("nginx")), timeout=5,
                                             source_address=(SLOW_SOURCE, 0))
                s.sendall(f"GET {API}/incidents HTTP/1.1\r\nHost: lab\r\n".encode())
                socks.append(s)
                self.sent += 1
            while not self._stop.wait(1.0):
                for s in socks:
                    s.sendall(b"X-Lab-Slow: 1\r\n")
        finally:
            for s in socks:
                s.close()

    def _normal_user(self) -> None:
        login = random.choice(logins(self.scale))  # a seeded user's authenticated reads
        with httpx.Client(base_url=self.settings.url("nginx"), timeout=10) as client:
            r = client.post(f"{API}/auth/login", json={"username": login.username, "password": login.password})
            r.raise_for_status()
            self.sent += 1  # a login is a normal user's request too (on a busy machine it can take the window)
            client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
            while not self._stop.is_set():
                self.sent += 1
                client.get(f"{API}/incidents")
                self._stop.wait(THINK_S)


@dataclass(frozen=True)
class Injected:
    """A window as it really happened: from the injection's request to the fault's removal (seconds
    from the timeline's start); the ground truth scores use these, not the plan."""

    window: Window
    started_s: float
    ended_s: float
    error: str | None = None


def inject(timeline: Timeline, settings: Settings, stack, t0_monotonic: float, scale: str = "small",
           stop: threading.Event | None = None, report: Callable[[str], None] = lambda line: None) -> list[Injected]:
    """Play ``timeline`` from ``t0_monotonic``, one window after the other; a window whose predecessor
    overran starts late (its real times are recorded)."""
    stop = stop or threading.Event()
    done = []
    for w in timeline.windows:
        if stop.wait(max(0.0, t0_monotonic + w.start_s - time.monotonic())):
            break
        injector, error = Injector(settings, stack, w, scale), None
        report(f"{w.kind} for {w.duration_s:g} s{' (benign)' if w.benign else ''}")
        started = time.monotonic() - t0_monotonic
        try:
            injector.begin()
            stop.wait(max(0.0, started + w.duration_s - (time.monotonic() - t0_monotonic)))
        except Exception as exc:
            error = f"{w.kind} at {w.start_s:g} s: {type(exc).__name__}: {exc}"
        finally:
            try:
                injector.end()
            except Exception as exc:
                error = error or f"{w.kind} at {w.start_s:g} s (ending it): {type(exc).__name__}: {exc}"
        done.append(Injected(w, round(started, 3), round(time.monotonic() - t0_monotonic, 3), error))
    return done


def truth(timeline: Timeline, injected: list[Injected], t0: datetime) -> pd.DataFrame:
    """The ground truth of a played timeline: one row per window injected, with its real start and end
    (``start``/``end`` UTC, ``started_s``/``ended_s`` from ``t0``) beside the plan."""
    rows = [{**asdict(i.window), "started_s": i.started_s, "ended_s": i.ended_s, "error": i.error,
             "start": t0 + timedelta(seconds=i.started_s), "end": t0 + timedelta(seconds=i.ended_s),
             "seed": timeline.seed, "length_s": timeline.length_s, "lead_in_s": timeline.lead_in_s}
            for i in injected]
    return pd.DataFrame(rows)
