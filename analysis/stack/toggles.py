"""Pattern toggles: the switches the lab flips, and which services each one restarts.

A toggle is an environment variable of the services it affects (or a value
rendered into a service's config). Names are part of the interface: the API,
the worker and TruthSync read them at start.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from stack.api import ratelimit
from stack.remediator import policy as remediator_policy
from stack.worker.config import METRICS_MODES


@dataclass(frozen=True)
class Toggle:
    name: str
    default: str
    services: tuple[str, ...]  # service names or globs: "truthsync-*" means every instance
    choices: tuple[str, ...] = ()  # empty: any value of the right kind
    numeric: bool = False
    doc: str = ""
    reload: bool = False  # applied by a config reload (SIGHUP): the service keeps running, connections survive
    low: float | None = None  # numeric toggles: the declared range (a sweep's values must lie in it)
    high: float | None = None

    def validate(self, value: str) -> str:
        value = str(value).strip()
        if self.choices and value not in self.choices:
            raise ToggleError(f"{self.name}={value!r} is not allowed; choose one of {', '.join(self.choices)}")
        if self.numeric:
            try:
                float(value)
            except ValueError:
                raise ToggleError(f"{self.name}={value!r} must be a number") from None
            if (self.low is not None and float(value) < self.low) or (self.high is not None and float(value) > self.high):
                raise ToggleError(f"{self.name}={value} is outside its range "
                                  f"{'' if self.low is None else f'{self.low:g}'}…{'' if self.high is None else f'{self.high:g}'}")
        return value

    def affects(self, service: str) -> bool:
        return any(fnmatch.fnmatchcase(service, pattern) for pattern in self.services)


class ToggleError(ValueError):
    """An unknown toggle or a value it does not accept."""


_ONOFF = ("off", "on")
#: P7 audit modes; what each sets in postgresql.conf is in stack/config/postgres/postgresql.conf.j2
PG_AUDIT_CHOICES = ("none", "statement-all", "pgaudit-write", "pgaudit-all")

TOGGLES: dict[str, Toggle] = {t.name: t for t in (
    Toggle("SENTINEL_CACHE", "off", ("api",), _ONOFF, doc="P1 Redis query cache for the dashboard"),
    Toggle("SENTINEL_CACHE_TTL_S", "30", ("api",), numeric=True, doc="cache entry lifetime", low=1, high=86400),
    Toggle("SENTINEL_RATELIMIT", "off", ("api",), ratelimit.MODES,
           doc="P1 per-user, per-endpoint rate limit: on (sliding window), naive (the design's INCR+EXPIRE), "
               "racy (positive control: read, compare, increment)"),
    Toggle("SENTINEL_RATELIMIT_PER_MIN", "600", ("api",), numeric=True,
           doc="requests a user may make per rate-limit window (a minute unless SENTINEL_RATELIMIT_WINDOW_S)"),
    Toggle("SENTINEL_RATELIMIT_WINDOW_S", "60", ("api",), numeric=True, doc="the rate limit's window, seconds"),
    Toggle("SENTINEL_SESSIONS", "jwt", ("api",), ("jwt", "redis"), doc="P1 sessions: signed JWT or Redis"),
    Toggle("SENTINEL_NOTIFY", "poll", ("api",), ("poll", "pubsub"), doc="P1 notifications: polling or Redis pub/sub"),
    Toggle("SENTINEL_AA_ARM", "a", ("api",), ("a", "b"),
           doc="no-op: the A/A pattern's arms flip it so the API restarts between them, as in a real pattern"),
    Toggle("SENTINEL_NOTIFY_POLL_S", "1.0", ("api",), numeric=True,
           doc="seconds between a polling stream's looks for new incidents"),
    Toggle("SENTINEL_CELERY_METRICS", "off", ("worker",), METRICS_MODES,
           doc="P6 Celery task metrics for Prometheus; drop|duplicate miscount on purpose (positive controls only)"),
    Toggle("TRUTHSYNC_L2", "off", ("truthsync-*",), _ONOFF, doc="P5 shared Redis cache behind each instance's L1"),
    Toggle("TRUTHSYNC_L1_SIZE", "10000", ("truthsync-*",), numeric=True, doc="entries in each instance's L1",
           low=1, high=10_000_000),
    Toggle("TRUTHSYNC_L1_TTL_S", "300", ("truthsync-*",), numeric=True, doc="L1 entry lifetime", low=1, high=86400),
    Toggle("TRUTHSYNC_L2_TTL_S", "3600", ("truthsync-*",), numeric=True, doc="L2 entry lifetime", low=1, high=604800),
    Toggle("TRUTHSYNC_BATCH_MAX", "1000", ("truthsync-*",), numeric=True, doc="texts allowed in one batch"),
    Toggle("REMEDIATOR_MODE", "dry-run", ("remediator",), ("off", "dry-run", "on"),
           doc="P3 act on alerts (on), only record decisions (dry-run), or ignore them (off)"),
    Toggle("REMEDIATOR_COOLDOWN_S", f"{remediator_policy.DEFAULT_COOLDOWN_S:g}", ("remediator",), numeric=True,
           doc="P3 seconds between two actions of one rule, and the time an action is given to cure"),
    Toggle("REMEDIATOR_BUDGET_PER_H", str(remediator_policy.DEFAULT_BUDGET_PER_H), ("remediator",), numeric=True,
           doc="P3 actions of one rule an hour; beyond them the alert is escalated to a person"),
    Toggle("PG_LOG_MIN_DURATION_MS", "250", ("postgres",), numeric=True, reload=True,
           doc="P7 log statements slower than this (ms); -1 turns it off"),
    Toggle("PG_AUDIT", "none", ("postgres",), PG_AUDIT_CHOICES, reload=True,
           doc="P7 statement audit: none, statement-all (log_statement='all' + log_duration, the design's), "
               "pgaudit-write (pgaudit.log='write, ddl, role') or pgaudit-all (pgaudit.log='all')"),
)}


def validate(toggles: dict[str, str]) -> dict[str, str]:
    """Check names and values; an unknown name is an error that lists the known ones."""
    clean = {}
    for name, value in toggles.items():
        if name not in TOGGLES:
            raise ToggleError(f"unknown toggle {name!r}; known toggles: {', '.join(sorted(TOGGLES))}")
        clean[name] = TOGGLES[name].validate(value)
    return clean


def defaults() -> dict[str, str]:
    return {t.name: t.default for t in TOGGLES.values()}


def for_service(service: str, toggles: dict[str, str]) -> dict[str, str]:
    """The toggle variables ``service`` sees: defaults overlaid with ``toggles``. Reloadable toggles are
    rendered into config files, not the environment (a changed environment means a restart)."""
    merged = {**defaults(), **toggles}
    return {name: merged[name] for name, t in TOGGLES.items() if t.affects(service) and not t.reload}


def reload_only(service: str, before: dict[str, str], after: dict[str, str]) -> bool:
    """Whether ``service``'s toggles differ between ``before`` and ``after`` and every difference
    is one a config reload applies (no restart needed)."""
    old, new = {**defaults(), **before}, {**defaults(), **after}
    changed = [t for name, t in TOGGLES.items() if t.affects(service) and old[name] != new[name]]
    return bool(changed) and all(t.reload for t in changed)


def parse_assignments(pairs: list[str]) -> dict[str, str]:
    """``["A=1", "B=on"]`` → ``{"A": "1", "B": "on"}``, validated."""
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ToggleError(f"expected NAME=VALUE, got {pair!r}")
        out[name.strip()] = value
    return validate(out)
