"""A run's devices: the collectors and probes a pattern lists, and the loop that runs them beside the
load without naming any (``analysis.experiment.measure`` calls it).

Adding a data source is one ``Collector`` class and one entry in a pattern's ``collect``: the entry is
the name of a built-in (``default_registry``) or the class itself.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from analysis.collect.base import DERIVED, Collector, Frames, RunContext, Values, frame_values
from analysis.collect.prometheus import await_scrape  # noqa: F401  (measure waits with it)
from analysis.collect.devices import Levels, LogCounts, PostgresStatements, PrometheusRun, RedisInfo, Resources
from analysis.patterns import Pattern
from analysis.probe_base import ProbeDevice
from analysis.probes import PROBES

Registry = dict[str, type[Collector]]


def default_registry() -> Registry:
    """The built-in collectors by the name ``Pattern.collect`` uses."""
    return {c.name: c for c in (PrometheusRun, PostgresStatements, RedisInfo, LogCounts, Resources, Levels)}


@dataclass
class Collected:
    """What a run's devices gave: frames by name (same-named frames of several devices concatenated), the
    per-run scalars of their ``derived`` frames, and the errors of devices whose measurement failed."""

    frames: Frames = field(default_factory=dict)
    values: Values = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


class Devices:
    """``start`` in the devices' order, ``stop`` and ``finish`` in reverse, like nested contexts (a sampler
    started last stops first, right at the load's end; the probes beside the load finish before the
    sources that read the servers); the frames merged in the devices' order."""

    def __init__(self, devices: list[Collector]):
        self.devices = devices

    def start(self, ctx: RunContext) -> None:
        for device in self.devices:
            device.start(ctx)

    def stop(self, ctx: RunContext) -> None:
        for device in reversed(self.devices):
            device.stop(ctx)

    def finish(self, ctx: RunContext) -> Collected:
        given = {id(d): d.finish(ctx) for d in reversed(self.devices)}
        out = Collected()
        for device in self.devices:
            for name, frame in given[id(device)].items():
                out.frames[name] = _append(out.frames.get(name), frame)
            if device.error:
                out.errors.append(f"{device.kind} {device.name}: {device.error}")
        out.values = frame_values(out.frames.pop(DERIVED, None))
        return out


def for_run(pattern: Pattern, warmup: bool = False, registry: Registry | None = None) -> Devices:
    """The devices of one run of ``pattern``: its collectors, then its probes; a warm-up run keeps only
    the devices that run in warm-ups (no probes)."""
    registry = registry if registry is not None else default_registry()
    devices: list[Collector] = []
    for entry in pattern.collect:
        if isinstance(entry, str) and entry not in registry:
            raise ValueError(f"pattern {pattern.id}: no collector named {entry!r} (known: {', '.join(registry)})")
        kind = registry[entry] if isinstance(entry, str) else entry
        if kind.warmup or not warmup:
            devices.append(kind())
    if not warmup:
        devices += [ProbeDevice(name, PROBES[name]()) for name in pattern.probes]
    return Devices(devices)


def _append(prior: pd.DataFrame | None, frame: pd.DataFrame) -> pd.DataFrame:
    if prior is None or frame.empty:
        return frame if prior is None else prior
    return frame if prior.empty else pd.concat([prior, frame], ignore_index=True)
