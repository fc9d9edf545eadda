"""The pattern toggles, declared once: name, kind, accepted range or choices, default, unit, services.

The lab validates ``sentinel-lab apply --set`` against this table (``analysis/stack/toggles.py``) and
each service reads its toggles through it (``ToggleSpec.read`` in the API's, worker's, TruthSync's and
the remediator's ``from_env``), so a value the lab accepts is one every service accepts, and a value a
service would refuse is refused by the lab first, with the same message.
"""
from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass

from stack.envconfig import ConfigError


@dataclass(frozen=True)
class ToggleSpec:
    name: str
    default: str
    services: tuple[str, ...]  # service names or globs: "truthsync-*" means every instance
    choices: tuple[str, ...] = ()  # a choice toggle; empty: a number
    integer: bool = False  # a number that must be whole
    minimum: float | None = None  # the smallest accepted number (inclusive)
    positive: bool = False  # a number that must be > 0
    unit: str = ""
    doc: str = ""
    reload: bool = False  # applied by a config reload (SIGHUP): the service keeps running, connections survive

    @property
    def numeric(self) -> bool:
        return not self.choices

    def accepted(self) -> str:
        """What the toggle accepts, in words: ``one of off, on`` or ``a positive whole number (seconds)``."""
        if self.choices:
            return f"one of {', '.join(self.choices)}"
        kind = "whole number" if self.integer else "number"
        bound = "a positive " + kind if self.positive else f"a {kind}"
        if self.minimum is not None:
            bound += f" ≥ {self.minimum:g}"
        return bound + (f" ({self.unit})" if self.unit else "")

    def parse(self, raw: str) -> str | int | float:
        """``raw`` as the service uses it; ``ConfigError`` naming the toggle and what it accepts."""
        value = str(raw).strip()
        if self.choices:
            value = value.lower()
            if value not in self.choices:
                raise ConfigError(f"{self.name}={value!r}: choose {self.accepted()}")
            return value
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"{self.name}={value!r} must be a number ({self.accepted()})") from None
        if (not math.isfinite(number) or (self.integer and not number.is_integer())
                or (self.positive and number <= 0) or (self.minimum is not None and number < self.minimum)):
            raise ConfigError(f"{self.name}={value!r} must be {self.accepted()}")
        return int(number) if self.integer else number

    def read(self, env) -> str | int | float:
        """The toggle's value in a service's environment ``env`` (its default when unset)."""
        return self.parse(env.get(self.name, self.default))

    @property
    def value(self) -> str | int | float:
        """The default, as the service uses it."""
        return self.parse(self.default)

    def affects(self, service: str) -> bool:
        return any(fnmatch.fnmatchcase(service, pattern) for pattern in self.services)


ONOFF = ("off", "on")
#: P1 rate limiters; what each does is in stack/api/ratelimit.py
RATELIMIT_MODES = ("off", "on", "naive", "racy")
#: P6 SENTINEL_CELERY_METRICS: off, on, or on but deliberately miscounting (positive controls only: a test
#: selects ``drop`` or ``duplicate`` to show the lab's celery-tasks probe catches wrong counts)
METRICS_MODES = ("off", "on", "drop", "duplicate")
#: P3 what the remediator does with an alert
REMEDIATOR_MODES = ("off", "dry-run", "on")
#: P7 audit modes; what each sets in postgresql.conf is in stack/config/postgres/postgresql.conf.j2
PG_AUDIT_CHOICES = ("none", "statement-all", "pgaudit-write", "pgaudit-all")

TOGGLES: dict[str, ToggleSpec] = {t.name: t for t in (
    ToggleSpec("SENTINEL_CACHE", "off", ("api",), ONOFF, doc="P1 Redis query cache for the dashboard"),
    ToggleSpec("SENTINEL_CACHE_TTL_S", "30", ("api",), minimum=0.001, unit="seconds",
               doc="cache entry lifetime (stored in whole milliseconds)"),
    ToggleSpec("SENTINEL_RATELIMIT", "off", ("api",), RATELIMIT_MODES,
               doc="P1 per-user, per-endpoint rate limit: on (sliding window), naive (the design's INCR+EXPIRE), "
                   "racy (positive control: read, compare, increment)"),
    ToggleSpec("SENTINEL_RATELIMIT_PER_MIN", "600", ("api",), integer=True, positive=True, unit="requests",
               doc="requests a user may make per rate-limit window (a minute unless SENTINEL_RATELIMIT_WINDOW_S)"),
    ToggleSpec("SENTINEL_RATELIMIT_WINDOW_S", "60", ("api",), positive=True, unit="seconds",
               doc="the rate limit's window"),
    ToggleSpec("SENTINEL_SESSIONS", "jwt", ("api",), ("jwt", "redis"), doc="P1 sessions: signed JWT or Redis"),
    ToggleSpec("SENTINEL_NOTIFY", "poll", ("api",), ("poll", "pubsub"),
               doc="P1 notifications: polling or Redis pub/sub"),
    ToggleSpec("SENTINEL_AA_ARM", "a", ("api",), ("a", "b"),
               doc="no-op: the A/A pattern's arms flip it so the API restarts between them, as in a real pattern"),
    ToggleSpec("SENTINEL_NOTIFY_POLL_S", "1.0", ("api",), positive=True, unit="seconds",
               doc="seconds between a polling stream's looks for new incidents"),
    ToggleSpec("SENTINEL_CELERY_METRICS", "off", ("worker",), METRICS_MODES,
               doc="P6 Celery task metrics for Prometheus; drop|duplicate miscount on purpose (positive controls only)"),
    ToggleSpec("TRUTHSYNC_L2", "off", ("truthsync-*",), ONOFF, doc="P5 shared Redis cache behind each instance's L1"),
    ToggleSpec("TRUTHSYNC_L1_SIZE", "10000", ("truthsync-*",), integer=True, positive=True, unit="entries",
               doc="entries in each instance's L1"),
    ToggleSpec("TRUTHSYNC_L1_TTL_S", "300", ("truthsync-*",), positive=True, unit="seconds", doc="L1 entry lifetime"),
    ToggleSpec("TRUTHSYNC_L2_TTL_S", "3600", ("truthsync-*",), integer=True, positive=True, unit="seconds",
               doc="L2 entry lifetime (Redis EX takes whole seconds)"),
    ToggleSpec("TRUTHSYNC_BATCH_MAX", "1000", ("truthsync-*",), integer=True, positive=True, unit="texts",
               doc="texts allowed in one batch"),
    ToggleSpec("TRUTHSYNC_INSTANCES", "0", ("nginx",), integer=True, minimum=0, unit="instances",
               doc="P5 how many of the running TruthSync instances Nginx routes to: the first N (truthsync-1 … "
                   "truthsync-N); 0 means every running instance. More than the stack runs is refused: start it "
                   "with LAB_TRUTHSYNC_INSTANCES=N (analysis/stack/routing.py)"),
    ToggleSpec("REMEDIATOR_MODE", "dry-run", ("remediator",), REMEDIATOR_MODES,
               doc="P3 act on alerts (on), only record decisions (dry-run), or ignore them (off)"),
    ToggleSpec("REMEDIATOR_COOLDOWN_S", "60", ("remediator",), minimum=0, unit="seconds",
               doc="P3 seconds between two actions of one rule, and the time an action is given to cure"),
    ToggleSpec("REMEDIATOR_BUDGET_PER_H", "3", ("remediator",), integer=True, positive=True, unit="actions",
               doc="P3 actions of one rule an hour; beyond them the alert is escalated to a person"),
    ToggleSpec("PG_LOG_MIN_DURATION_MS", "250", ("postgres",), integer=True, minimum=-1, unit="ms", reload=True,
               doc="P7 log statements slower than this (ms); -1 turns it off"),
    ToggleSpec("PG_AUDIT", "none", ("postgres",), PG_AUDIT_CHOICES, reload=True,
               doc="P7 statement audit: none, statement-all (log_statement='all' + log_duration, the design's), "
                   "pgaudit-write (pgaudit.log='write, ddl, role') or pgaudit-all (pgaudit.log='all')"),
)}
