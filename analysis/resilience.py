"""Faults survived, measured: while Locust drives the API and TruthSync, break one part of the local stack
for real and count what the users saw.

Each fault is a row: requests during it (its window plus ``after_s`` of recovery), errors among them,
recovery (seconds from the part being back, or from the kill, to the last failed request; 0 when none
failed after it) and data lost. Data lost is counted by the lab's own writer, which opens incidents
through the API during every fault as a seeded user the load never draws (its traffic is not counted in
the requests): each incident the API acknowledged (201) must be in Postgres, and, for the worker fault,
must have exactly one ``created`` event (no task lost, none run twice with visible effect).
"""
from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

import httpx
import pandas as pd
import psycopg
import redis

from analysis import load, seeding
from analysis.redis_instances import INSTANCES
from analysis.stack import toggles
from stack.api.seed import logins

API = "/api/v1"
#: the caches a Redis outage empties, on, so the row shows them refilled afterwards
CACHES_ON = {"SENTINEL_CACHE": "on", "TRUTHSYNC_L2": "on"}


@dataclass(frozen=True)
class Timing:
    """How long each phase lasts; the test passes shorter ones than the command."""

    before_s: float = 4.0  # load before the fault
    redis_down_s: float = 10.0
    worker_down_s: float = 2.0
    after_s: float = 8.0  # load after the part is back
    users: int = 4
    redelivery_s: float = 45.0  # the worker's visibility timeout (20 s) and a margin, to see a redelivery


@dataclass
class FaultRow:
    fault: str
    requests: int
    errors: int
    recovery_s: float
    data_lost: int
    writes: int  # incidents the lab's writer had acknowledged during the fault
    note: str = ""

    @property
    def error_share(self) -> float:
        return self.errors / self.requests if self.requests else float("nan")


@dataclass
class Window:
    start: datetime
    back: datetime  # when the broken part was back (for a kill routed around: the kill itself)
    end: datetime | None = None
    note: list[str] = field(default_factory=list)


class ResilienceError(RuntimeError):
    """The faults cannot be run here; the message says why and what to do."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


# ------------------------------------------------------------------------------------- the faults
def _outage(stack, services: tuple[str, ...], down_s: float, stop: Callable[[object, str], None]) -> Window:
    """``stop`` the services, leave them down ``down_s``, start them again; back once supervisord has
    them running."""
    rpc = stack.supervisor.rpc
    w = Window(_now(), _now())
    for service in services:
        stop(rpc, service)
    deadline = time.monotonic() + 30  # supervisord notices a killed process at its next tick
    for service in services:
        while rpc.getProcessInfo(service)["statename"] in {"RUNNING", "STARTING", "STOPPING"}:
            if time.monotonic() > deadline:
                raise ResilienceError(f"supervisord still reports {service} running 30 s after the fault")
            time.sleep(0.1)
    time.sleep(down_s)
    for service in services:
        rpc.startProcess(service, True)
    w.back = _now()
    return w


def _stop(rpc, service: str) -> None:
    rpc.stopProcess(service, True)


def _kill_group(rpc, service: str) -> None:
    """SIGKILL, mid-task: supervisord starts it as a group leader, so its pool children go with it."""
    pid = rpc.getProcessInfo(service)["pid"]
    if os.getpgid(pid) == pid:
        os.killpg(pid, signal.SIGKILL)
    else:
        os.kill(pid, signal.SIGKILL)


def _redis_stop(stack, t: Timing) -> Window:
    return _outage(stack, tuple(i.service for i in INSTANCES), t.redis_down_s, _stop)  # both instances


def _worker_kill(stack, t: Timing) -> Window:
    return _outage(stack, ("worker",), t.worker_down_s, _kill_group)


def _postgres_restart(stack, t: Timing) -> Window:
    return _outage(stack, ("postgres",), 0.0, _stop)


def _truthsync_kill(stack, t: Timing) -> Window:
    pid = stack.supervisor.rpc.getProcessInfo("truthsync-1")["pid"]
    os.kill(pid, signal.SIGKILL)
    now = _now()
    return Window(now, now)


#: name → (what it does, how); the order the command runs them in
FAULTS: dict[str, tuple[str, Callable]] = {
    "redis-stop": ("Redis stopped, then started", _redis_stop),
    "worker-kill": ("Celery worker killed (SIGKILL) mid-task, then started", _worker_kill),
    "postgres-restart": ("Postgres restarted", _postgres_restart),
    "truthsync-kill": ("one TruthSync instance killed (SIGKILL)", _truthsync_kill),
}


# ------------------------------------------------------------------------------ the lab's writer
class Writer(threading.Thread):
    """Opens incidents through Nginx every ``every_s`` as the least popular seeded user, keeping the ids
    the API acknowledged. Its requests are the lab's own: they never count as the workload's."""

    def __init__(self, base_url: str, marker: str, every_s: float = 0.2):
        super().__init__(daemon=True)
        self.base_url, self.marker, self.every_s = base_url, marker, every_s
        self.acked: list[int] = []
        self.stop = threading.Event()

    def run(self) -> None:
        user = logins("small")[-1]
        with httpx.Client(base_url=self.base_url, timeout=5) as client:
            token = None
            while not self.stop.is_set():
                try:
                    if token is None:
                        r = client.post(f"{API}/auth/login", json={"username": user.username,
                                                                   "password": user.password})
                        token = r.json()["access_token"] if r.status_code == 200 else None
                    if token:
                        r = client.post(f"{API}/incidents", headers={"Authorization": f"Bearer {token}"},
                                        json={"title": f"{self.marker} {len(self.acked)}", "severity": "low",
                                              "service": "lab-faults"})
                        if r.status_code == 201:
                            self.acked.append(int(r.json()["id"]))
                except (httpx.HTTPError, ValueError, KeyError):
                    pass  # an outage: try again; only acknowledged writes are counted
                self.stop.wait(self.every_s)


def _stored(dsn: str, ids: list[int]) -> tuple[int, int, int]:
    """(incidents present, incidents with a created event, incidents with more than one)."""
    if not ids:
        return 0, 0, 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        present = conn.execute("SELECT count(*) FROM incidents WHERE id = ANY(%s)", (ids,)).fetchone()[0]
        counts = conn.execute("SELECT incident_id, count(*) FROM incident_events WHERE kind = 'created' "
                              "AND incident_id = ANY(%s) GROUP BY incident_id", (ids,)).fetchall()
    return present, len(counts), sum(1 for _, n in counts if n > 1)


# ------------------------------------------------------------------------------------ one fault
def _drive(workload: load.Workload, run_dir, out: dict, key: str) -> None:
    try:
        out[key] = load.run(workload, run_dir=run_dir, progress=False)
    except Exception as exc:  # the row says the load failed, in its own words
        out[key] = exc


def _wait_for_requests(prefixes: list, timeout_s: float = 120.0) -> None:
    """Until every Locust's stats file counts a request (it starts slowly on a busy machine)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(load.requests_sent(prefix) for prefix in prefixes):
            return
        time.sleep(0.5)


def run_fault(stack, name: str, t: Timing = Timing()) -> FaultRow:
    """Drive the API and TruthSync, inject fault ``name``, and count what their users saw."""
    s = stack.settings
    _, inject = FAULTS[name]
    outage = {"redis-stop": t.redis_down_s, "worker-kill": t.worker_down_s}.get(name, 2.0)
    expected = t.before_s + outage + t.after_s + 8  # 8: Locust's first stats file, which starts the clock
    marker = f"lab-fault {name} {uuid.uuid4().hex[:8]}"
    loads: dict[str, object] = {}
    run_root = s.run_dir / "load" / "faults" / f"{name}-{uuid.uuid4().hex[:6]}"
    threads = [threading.Thread(target=_drive, daemon=True, args=(
        load.Workload(target, load.default_host(target, s), users=t.users, spawn_rate=t.users, duration_s=expected),
        run_root / target, loads, target)) for target in ("api", "truthsync")]
    writer = Writer(s.url("nginx"), marker)
    for th in threads:
        th.start()
    writer.start()
    _wait_for_requests([run_root / target / "locust" for target in ("api", "truthsync")])
    time.sleep(t.before_s)
    window = inject(stack, t)
    time.sleep(t.after_s)
    window.end = _now()
    writer.stop.set()
    writer.join(10)
    for th in threads:
        th.join(expected + 90)
    if name == "truthsync-kill":
        stack.supervisor.rpc.startProcess("truthsync-1", True)
    failed = [f"{k}: {v}" for k, v in loads.items() if isinstance(v, Exception)]
    if failed or len(loads) < 2:
        return FaultRow(name, 0, 0, float("nan"), -1, len(writer.acked), "load failed: " + "; ".join(failed))
    requests = pd.concat([r.requests for r in loads.values()], ignore_index=True)
    during = requests[(requests["timestamp"] >= window.start) & (requests["timestamp"] <= window.end)]
    errors = during[~during["success"]]
    late = errors[errors["timestamp"] > window.back]
    recovery = (late["timestamp"].max() - window.back).total_seconds() if len(late) else 0.0
    lost, note = _data_lost(s, name, writer.acked, t)
    if name == "redis-stop":
        note.insert(0, f"caches refilled: {redis.Redis.from_url(s.redis_cache_url).dbsize()} keys in the cache "
                       "Redis afterwards")
    return FaultRow(name, len(during), len(errors), round(recovery, 2), lost, len(writer.acked), "; ".join(note))


def _data_lost(s, name: str, acked: list[int], t: Timing) -> tuple[int, list[str]]:
    present, with_event, twice = _stored(s.database_url, acked)
    note = []
    if name != "worker-kill":
        deadline = time.monotonic() + 10  # the worker drains what was queued during the fault
        while with_event < len(acked) and time.monotonic() < deadline:
            time.sleep(1)
            present, with_event, twice = _stored(s.database_url, acked)
        if with_event < len(acked):  # said, not hidden: the API gives up on a task it cannot enqueue
            note.append(f"{len(acked) - with_event} of {len(acked)} incidents got no created event "
                        "(tasks the API could not enqueue; not counted as data lost)")
        return len(acked) - present, note
    deadline = time.monotonic() + t.redelivery_s  # a message the killed worker held comes back after its timeout
    while with_event < len(acked) and time.monotonic() < deadline:
        time.sleep(1)
        present, with_event, twice = _stored(s.database_url, acked)
    note.append(f"{with_event} of {len(acked)} tasks ran, {twice} ran twice with effect")
    return (len(acked) - present) + (len(acked) - with_event) + twice, note


def run_all(stack, names: list[str] | None = None, t: Timing = Timing(),
            report: Callable[[str], None] = lambda line: None) -> list[FaultRow]:
    """Every fault in turn with the caches on; the stack's toggles are restored afterwards."""
    if getattr(stack, "kind", "") != "local":
        raise ResilienceError("faults are injected through supervisord: run them on the local stack (--stack local)")
    if not stack.is_up():
        raise ResilienceError("the stack is not up: run `sentinel-lab up` first")
    unknown = set(names or []) - set(FAULTS)
    if unknown:
        raise ResilienceError(f"unknown faults {sorted(unknown)}; choose from {', '.join(FAULTS)}")
    seeding.seed({"api", "truthsync"}, stack.settings)
    before = dict(stack.toggles())
    stack.apply({**toggles.defaults(), **before, **CACHES_ON})
    rows = []
    try:
        for name in names or list(FAULTS):
            report(f"fault {name}: {FAULTS[name][0]}")
            rows.append(run_fault(stack, name, t))
    finally:
        stack.apply({**toggles.defaults(), **before})
    return rows


def table(rows: list[FaultRow]) -> pd.DataFrame:
    return pd.DataFrame([{**r.__dict__, "error_share": r.error_share} for r in rows])
