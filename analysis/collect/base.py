"""What every data source of a run is: a device that starts with the run, stops with the load and
finishes with named frames (Esrally's telemetry devices).

The study loop (``analysis.devices``) calls the hooks of every device a pattern lists without naming
any; a device that has nothing to do in a hook keeps the no-op default. Frames a device returns are
stored as ``<name>.parquet`` in the run's directory; a frame named ``derived`` holds per-run scalars
(``metric``, ``value``, ``unit``) that join the derived metrics the statistics compare.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from analysis.capacity import CapacityPlan
from analysis.load import LoadResult
from analysis.settings import Settings
from analysis.stack.base import Stack

Frames = dict[str, pd.DataFrame]
Values = dict[str, tuple[float, str]]
#: the frame of per-run scalars, and the columns it has
DERIVED, DERIVED_COLUMNS = "derived", ["metric", "value", "unit"]


@dataclass
class RunContext:
    """What a device may use: the stack's addresses, the arm's toggles, the seed scale; the run window
    and the load's result once the load has ended; the stack and the capacity plan of a capacity run."""

    settings: Settings
    toggles: dict[str, str]
    scale: str = "small"
    start: datetime | None = None
    end: datetime | None = None
    target: str = "api"  # the workload's locustfile: "api" | "truthsync"
    stack: Stack | None = None
    plan: CapacityPlan | None = None
    load: LoadResult | None = None


class Collector:
    """``start`` before the load, ``stop`` right after it (snapshots that must not see what follows),
    ``finish`` once the servers' last scrape of the run has happened: the device's frames.

    ``name`` is the key ``Pattern.collect`` uses; ``needs`` the services it reads; ``warmup`` whether it
    also runs in a discarded warm-up run; ``error`` why its measurement failed (said in the run's meta).
    """

    name: str = ""
    kind: str = "collector"  # how the run's meta names it beside its error: "collector" | "probe"
    needs: tuple[str, ...] = ()
    warmup: bool = True
    error: str | None = None

    def start(self, ctx: RunContext) -> None:
        """Before the load (a snapshot to subtract, a sampler started)."""

    def stop(self, ctx: RunContext) -> None:
        """Right after the load, before the wait for the last scrape."""

    def finish(self, ctx: RunContext) -> Frames:
        """After the last scrape: the device's frames, by name."""
        return {}


def values_frame(values: Values) -> pd.DataFrame:
    """Per-run scalars (name → (value, unit)) as a ``derived`` frame."""
    return pd.DataFrame([{"metric": k, "value": float(v), "unit": u} for k, (v, u) in values.items()],
                        columns=DERIVED_COLUMNS)


def frame_values(frame: pd.DataFrame | None) -> Values:
    """A ``derived`` frame back as name → (value, unit)."""
    if frame is None:
        return {}
    return {r.metric: (float(r.value), str(r.unit)) for r in frame.itertuples(index=False)}
