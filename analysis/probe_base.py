"""What every probe is: a start before the load, a finish after it, per-run scalars out.

Kept apart from ``analysis.probes`` (the registry) so a probe may live in a module of its own.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

from analysis.settings import Settings

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
    """``start`` before the load, ``finish`` after it; background probes override ``work``."""

    background = False

    def __init__(self):
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: str | None = None

    def start(self, ctx: ProbeContext) -> None:
        if self.background:
            self._thread = threading.Thread(target=self._guarded, args=(ctx,), daemon=True, name=type(self).__name__)
            self._thread.start()

    def finish(self, ctx: ProbeContext) -> Values:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)
        return self.values(ctx)

    def _guarded(self, ctx: ProbeContext) -> None:
        try:
            self.work(ctx)
        except Exception as exc:  # a probe that broke is reported, never silently counted as zero
            self.error = f"{type(exc).__name__}: {exc}"

    def work(self, ctx: ProbeContext) -> None:
        raise NotImplementedError

    def values(self, ctx: ProbeContext) -> Values:
        raise NotImplementedError

    def samples(self) -> list[tuple[str, float]]:
        """Per-event observations (name, value), pooled per arm by the statistics like request latencies."""
        return []
