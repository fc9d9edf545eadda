"""P3's runs: curable faults injected for real, the remediator's loop (or nobody) left to answer.

Each run plays ``rounds`` incidents of every class in ``analysis.incidents.CLASSES``: the Celery
worker and TruthSync's first instance killed (their whole process group, SIGKILL), the API put in
an error mode that only a restart clears, the dashboard cache poisoned with an entry the API cannot
decode. Every class runs in its own lane, all four at once: the error mode spares the dashboard's
routes and each alert reads only its own routes' errors, so the API's two faults stay separable
when they overlap. The lab watches each service's own steady-state signal every
0.2 s; a fault still there at the end of its window is right-censored, and the lab then ends it
itself (the person the baseline arm relies on). Before the next incident of a class its alert must
have resolved, so every incident is a new alert episode.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pandas as pd
import redis

from analysis import incidents, n8n_path, results
from analysis import patterns as pats
from analysis.collect import remediation_audit
from analysis.collect.base import values_frame
from analysis.incidents import CLASSES
from stack.api.cache import PREFIX as CACHE_PREFIX
from stack.api.seed import logins

API = "/api/v1"
DASHBOARD = f"{API}/dashboard/"  # the cache fault's routes; the error mode spares them
POLL_S = 0.2
SETTLE_MAX_S = 20.0
POISON = b"\x00poisoned: not JSON"


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Lab:
    """The lab's hands on the running stack for one run: inject, watch, end a fault."""

    def __init__(self, settings, stack, scale: str):
        self.settings, self.stack = settings, stack
        self.api = httpx.Client(base_url=settings.url("api"), timeout=5)
        self.users = []  # (tenant id, bearer header) of two seeded users
        for login in logins(scale)[:2]:
            r = self.api.post(f"{API}/auth/login", json={"username": login.username, "password": login.password})
            r.raise_for_status()
            self.users.append((login.tenant_id, {"Authorization": f"Bearer {r.json()['access_token']}"}))
        self.admin = {"Authorization": f"Bearer {settings.secret('admin_token')}"}
        self.redis = redis.Redis.from_url(settings.redis_url)  # generations (analysis.redis_instances.MAIN)
        self.cache = redis.Redis.from_url(settings.redis_cache_url)  # the dashboard values (CACHE)

    def close(self) -> None:
        self.api.close()
        self.redis.close()
        self.cache.close()

    # ---------------------------------------------------------------- faults
    def inject(self, kind: str) -> None:
        if kind in ("worker-killed", "truthsync-killed"):
            name = "worker" if kind == "worker-killed" else "truthsync-1"
            os.killpg(self.stack.supervisor.rpc.getProcessInfo(name)["pid"], signal.SIGKILL)
        elif kind == "api-error-mode":  # in the process's memory until it restarts (or the lab clears it)
            self._api_admin(lambda: self.api.post(f"{API}/admin/faults", headers=self.admin, json={
                "error_rate": 1.0, "errors_spare": DASHBOARD, "duration_s": 600}))
        elif kind == "cache-poisoned":
            for tenant, _ in self.users:
                generation = self.redis.get(f"{CACHE_PREFIX}dashboard:{tenant}:generation") or b"0"
                self.cache.set(f"{CACHE_PREFIX}dashboard:{tenant}:{generation.decode()}", POISON, px=600_000)
        else:
            raise ValueError(f"unknown fault class {kind!r}; known: {', '.join(CLASSES)}")

    def healthy(self, kind: str) -> bool:
        """The service's own steady-state signal; a connection refused or a timeout is not healthy."""
        tenant, auth = self.users[0]
        try:
            if kind == "worker-killed":
                return httpx.get(self.settings.url("worker") + "/health", timeout=2).status_code == 200
            if kind == "truthsync-killed":
                return httpx.get(self.settings.url("truthsync-1") + "/health", timeout=2).status_code == 200
            if kind == "api-error-mode":
                return self.api.get(f"{API}/incidents", headers=auth, timeout=2).status_code < 500
            return self.api.get(f"{DASHBOARD}{tenant}", headers=auth, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def end(self, kind: str) -> None:
        """What the person does when nobody else did: start the service, clear the mode, flush the cache."""
        if kind in ("worker-killed", "truthsync-killed"):
            name = "worker" if kind == "worker-killed" else "truthsync-1"
            if self.stack.supervisor.rpc.getProcessInfo(name)["statename"] != "RUNNING":
                self.stack.supervisor.rpc.startProcess(name, True)
        elif kind == "api-error-mode":
            self._api_admin(lambda: self.api.delete(f"{API}/admin/faults", headers=self.admin))
        elif kind == "cache-poisoned":
            keys = list(self.cache.scan_iter(match=f"{CACHE_PREFIX}dashboard:*", count=1000))
            keys = [k for k in keys if not k.endswith(b":generation")]
            if keys:
                self.cache.unlink(*keys)

    def _api_admin(self, call, limit_s: float = 60.0) -> None:
        """An admin call to the API, again while it cannot be reached: it may be restarting (an action under
        way), or a pooled connection may still lead to the process a restart just replaced (reset by peer)."""
        deadline = time.monotonic() + limit_s
        while True:
            try:
                call().raise_for_status()
                return
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(POLL_S)

    def firing(self, alertname: str) -> bool:
        r = httpx.get(self.settings.url("prometheus") + "/api/v1/query", timeout=5,
                      params={"query": f'ALERTS{{alertname="{alertname}", alertstate="firing"}}'})
        r.raise_for_status()
        return bool(r.json()["data"]["result"])

    # ------------------------------------------------------------- background
    def background(self, stop: threading.Event) -> None:
        """Two users reading their incidents and dashboard: the traffic the API's alerts rate."""
        while not stop.is_set():
            for tenant, auth in self.users:
                for path in (f"{API}/incidents", f"{DASHBOARD}{tenant}"):
                    try:
                        self.api.get(path, headers=auth, timeout=2)
                    except httpx.HTTPError:
                        pass
            stop.wait(0.1)


def play_incident(lab: Lab, kind: str, window_s: float, stop: threading.Event) -> dict:
    """One incident: inject, watch until healthy or the window ends, end it if nobody did, settle."""
    cls = CLASSES[kind]
    start = _now()
    lab.inject(kind)
    recovered, deadline = None, time.monotonic() + window_s
    time.sleep(POLL_S)
    while time.monotonic() < deadline and not stop.is_set():
        if lab.healthy(kind):
            recovered = _now()
            break
        time.sleep(POLL_S)
    if recovered is not None and (recovered - start).total_seconds() > window_s:
        recovered = None  # seen healthy only after its window (the last look overran it): censored all the same
    censored = recovered is None
    if censored:
        lab.end(kind)
        until = time.monotonic() + 60
        while not lab.healthy(kind) and time.monotonic() < until:
            time.sleep(POLL_S)
    end = _now()
    settle = time.monotonic() + SETTLE_MAX_S
    while lab.firing(cls.alertname) and time.monotonic() < settle:
        time.sleep(0.5)
    ttr = (recovered - start).total_seconds() if recovered else window_s
    return {"kind": kind, "start": start, "end": end, "recovered": recovered, "censored": censored, "ttr_s": ttr}


def play(study, step, rounds: int, window_s: float, report=lambda line: None) -> tuple[pd.DataFrame, list[str]]:
    """Every class ``rounds`` times, each class in its own lane, the lanes at once."""
    lab = Lab(study.settings, study.stack, study.config.seed_scale)
    stop, done, errors = threading.Event(), [], []

    def lane(delay_s: float, kinds: list[str]) -> None:
        stop.wait(delay_s)
        for kind in kinds:
            if stop.is_set():
                return
            try:
                done.append(play_incident(lab, kind, window_s, stop))
                last = done[-1]
                report(f"{kind}: " + ("censored" if last["censored"] else f"recovered in {last['ttr_s']:.1f} s"))
            except Exception as exc:  # a fault the lab could not inject or end: the run is untrusted
                errors.append(f"{kind}: {type(exc).__name__}: {exc}")

    # staggered, so that three services do not boot at once on the first round (a flush boots nothing)
    lanes = [(0.0, ["api-error-mode"] * rounds), (1.0, ["cache-poisoned"] * rounds),
             (2.0, ["worker-killed"] * rounds), (4.0, ["truthsync-killed"] * rounds)]
    load = threading.Thread(target=lab.background, args=(stop,), daemon=True)
    load.start()
    time.sleep(3.0)  # the API's request rates fill before the first fault
    threads = [threading.Thread(target=lane, args=spec, daemon=True) for spec in lanes]
    try:
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(timeout=0.5)
    except KeyboardInterrupt:
        stop.set()
        raise
    finally:
        stop.set()
        load.join(timeout=10)
        lab.close()
    return pd.DataFrame(done), errors


def measure(study, step) -> tuple:
    """A study step of a remediation pattern (``Pattern.incidents`` set): the run's meta and frames."""
    pattern = pats.get(step.pattern)
    plan = pattern.incidents
    if step.warmup:  # the first incident's lead-in is the warm-up; nothing to discard here
        now = _now()
        return study.new_meta(step, now, now, {}), {"derived": values_frame({})}
    quick = study.config.quick
    rounds = plan.rounds(step.repeat, pattern.runs_per_arm(study.config.repeats, quick), quick)
    n8n_on = study.settings.n8n
    model = ""
    if n8n_on:  # its webhook registered before the first fault; if it never is, the path says not measured
        try:
            model = n8n_path.ready(study.settings)
        except n8n_path.DispatchError as exc:
            model = f"n8n not ready: {exc}"
    start = _now()
    played, errors = play(study, step, rounds, plan.window_s,
                          report=lambda line: print(f"  incident: {line}", file=sys.stderr))
    time.sleep(1.0)  # the remediator's last audit line is written
    end = _now()
    audit = remediation_audit.read(study.settings.log_dir, start, end)
    matched = incidents.match(played, audit, n8n=n8n_on, n8n_model=model) if len(played) else pd.DataFrame()
    values = incidents.run_values(matched)
    derived = values_frame(values)
    expected = rounds * len(CLASSES)
    if len(played) < expected:
        errors.append(f"only {len(played)} of {expected} incidents were played")
    why = "; ".join(errors) or None
    meta = study.new_meta(step, start, end, {"rounds": rounds, **asdict(plan), "n8n": n8n_on},
                          untrusted=bool(why), why=f"fault injection: {why}" if why else None)
    return meta, {"incidents": matched, "audit": audit, "derived": derived}


def summaries(study_dir: Path) -> dict[str, dict[str, dict]]:
    """Per remediation pattern of a study and per arm: incidents, censoring, time to recover and its
    stages per fault class, median and p90 with 95 % intervals (for ``--json``)."""
    out = {}
    study = results.load_study(study_dir)
    for pid in study.meta.patterns:
        if pats.get(pid).incidents is None:
            continue
        frame = results.load_source(study_dir, "incidents", pid)
        if "warmup" in frame:
            frame = frame[~frame["warmup"].astype(bool)]
        out[pid] = {arm: incidents.summary([g for _, g in frame[frame["arm"] == arm].groupby("run_id")])
                    for arm in ("baseline", "treatment") if len(frame) and (frame["arm"] == arm).any()}
    return out
