"""A run's devices: a collector a pattern lists shows up in the run's frames with no change to the study
loop; hooks run in order; a probe that broke leaves its judged values out and says why; warm-ups run
no probes; every pattern's sources resolve."""
from __future__ import annotations

import ast
import dataclasses
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

from analysis import devices, experiment
from analysis import patterns as pats
from analysis.collect import tidy
from analysis.collect.base import Collector, RunContext, values_frame
from analysis.probe_base import Probe, ProbeDevice
from analysis.settings import Settings
from analysis.stack import catalogue


# The README's "Architecture" example: a whole new data source.
class RunWindow(Collector):
    """How long the run's load lasted, as the lab's clock saw it."""
    name = "window"

    def finish(self, ctx):
        seconds = (ctx.end - ctx.start).total_seconds()
        return {"window": tidy([{"timestamp": ctx.end, "metric": "load_seconds", "value": seconds}])}


class Recording(Collector):
    """Writes each hook it sees into a shared journal; gives a frame named ``shared`` and a scalar."""

    def __init__(self, name: str, journal: list, warmup: bool = True):
        self.name, self.journal, self.warmup = name, journal, warmup

    def start(self, ctx):
        self.journal.append(("start", self.name))

    def stop(self, ctx):
        self.journal.append(("stop", self.name))

    def finish(self, ctx):
        self.journal.append(("finish", self.name))
        return {"shared": pd.DataFrame({"source": [self.name]}),
                "derived": values_frame({f"{self.name}_seen": (1, "runs")})}


class Broken(Probe):
    """A probe whose reading of the servers fails after it made checks."""

    checks = "things_checked"

    def values(self, ctx):
        raise ConnectionError("server went away")

    def samples(self):
        return [("thing_ms", 1.0)]


def _ctx() -> RunContext:
    end = datetime(2026, 12, 2, 20, 0, tzinfo=timezone.utc)
    return RunContext(Settings(), {}, start=end - timedelta(seconds=8), end=end)


def _run(run_devices: devices.Devices) -> devices.Collected:
    ctx = _ctx()
    run_devices.start(ctx)
    run_devices.stop(ctx)
    return run_devices.finish(ctx)


def test_a_collector_listed_in_a_pattern_shows_up_in_the_run_frames():
    pattern = dataclasses.replace(pats.get("redis-sessions"), collect=(RunWindow,))
    collected = _run(devices.for_run(pattern))
    assert list(collected.frames) == ["window"]
    window = collected.frames["window"]
    assert window["metric"].tolist() == ["load_seconds"] and window["value"].tolist() == [8.0]
    assert collected.errors == [] and collected.values == {}


def test_a_registered_name_resolves_like_the_class_itself():
    pattern = dataclasses.replace(pats.get("redis-sessions"), collect=("window",))
    collected = _run(devices.for_run(pattern, registry={"window": RunWindow}))
    assert "window" in collected.frames


def test_hooks_start_in_order_stop_and_finish_in_reverse_and_frames_merge_in_the_pattern_order():
    journal: list = []
    run_devices = devices.Devices([Recording("a", journal), Recording("b", journal)])
    collected = _run(run_devices)
    assert journal == [("start", "a"), ("start", "b"), ("stop", "b"), ("stop", "a"),
                       ("finish", "b"), ("finish", "a")]
    assert collected.frames["shared"]["source"].tolist() == ["a", "b"]
    assert "derived" not in collected.frames  # the devices' scalars are the derivation's input
    assert collected.values == {"a_seen": (1.0, "runs"), "b_seen": (1.0, "runs")}


def test_a_probe_that_broke_gives_only_its_check_count_and_its_error():
    collected = _run(devices.Devices([ProbeDevice("broken", Broken())]))
    assert collected.values == {"things_checked": (0.0, "checks")}
    assert collected.errors == ["probe broken: ConnectionError: server went away"]
    assert "samples" not in collected.frames


class Timing(Probe):
    """A probe that made two checks and timed each."""

    checks = "things_checked"

    def values(self, ctx):
        return {"things_checked": (2, "checks"), "things_wrong": (0, "things")}

    def samples(self):
        return [("thing_ms", 1.5), ("thing_ms", 2.5)]


def test_a_probe_gives_its_scalars_and_its_samples_pooled_with_the_other_probes():
    collected = _run(devices.Devices([ProbeDevice("one", Timing()), ProbeDevice("two", Timing())]))
    assert collected.values == {"things_checked": (2.0, "checks"), "things_wrong": (0.0, "things")}
    assert collected.frames["samples"]["value"].tolist() == [1.5, 2.5, 1.5, 2.5]
    assert collected.errors == []


def test_a_warm_up_run_has_no_probes_and_only_the_collectors_that_run_in_warm_ups():
    pattern = pats.get("redis-cache")
    names = lambda d: [x.name for x in d.devices]  # noqa: E731
    assert names(devices.for_run(pattern)) == [*pattern.collect, *pattern.probes]
    assert names(devices.for_run(pattern, warmup=True)) == list(pattern.collect)
    assert names(devices.for_run(pats.get("all-on"), warmup=True)) == ["prometheus", "postgres", "redis"]


@pytest.mark.parametrize("pattern", pats.PATTERNS, ids=lambda p: p.id)
def test_every_pattern_sources_resolve_to_devices(pattern):
    run = devices.for_run(pattern)
    assert [d.name for d in run.devices] == [*pattern.collect, *pattern.probes]


def test_an_unknown_source_name_is_refused_with_the_known_ones():
    pattern = dataclasses.replace(pats.get("redis-sessions"), collect=("prometheus", "promethues"))
    with pytest.raises(ValueError, match="promethues.*known: prometheus"):
        devices.for_run(pattern)


def test_every_collector_needs_only_services_the_catalogue_knows():
    known = set(catalogue.by_name())
    for kind in devices.default_registry().values():
        assert set(kind.needs) <= known, kind.name


def test_the_study_loop_names_no_data_source():
    """``experiment.measure`` reaches the sources only through ``analysis.devices``."""
    tree = ast.parse(Path(experiment.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    sources = {m for m in imported if m and m.startswith("analysis.collect") and m != "analysis.collect.base"}
    assert not sources and "analysis.probes" not in imported
