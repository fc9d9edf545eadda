"""What every probe is: a start before the load, a finish after it, per-run scalars out; and the
device (``analysis.collect.base.Collector``) that runs one in a study beside the other data sources.

Kept apart from ``analysis.probes`` (the registry) so a probe may live in a module of its own.
"""
from __future__ import annotations

import threading
from typing import Callable

import pandas as pd

from analysis.collect.base import DERIVED, Collector, Frames, RunContext, Values, values_frame

#: what a probe may use: the run's context (the stack's addresses, the arm's toggles, the run window …)
ProbeContext = RunContext


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


class ProbeDevice(Collector):
    """A probe as one of a run's devices: its scalars join ``derived``, its per-event observations
    ``samples`` (only when it neither erred nor checked nothing); its error goes to the run's meta.
    Probes measure the run itself, so a warm-up run has none."""

    kind = "probe"
    warmup = False

    def __init__(self, name: str, probe: Probe):
        self.name, self.probe = name, probe

    def start(self, ctx: RunContext) -> None:
        self.probe.start(ctx)

    def finish(self, ctx: RunContext) -> Frames:
        try:  # Probe.finish withholds the judged values of a probe that erred or checked nothing
            values = self.probe.finish(ctx)
        except Exception as exc:  # a broken probe leaves its metrics unmeasured, said in the meta
            self.probe.fail(f"{type(exc).__name__}: {exc}")
            values = {}
        self.error = self.probe.error
        samples = [] if self.error else self.probe.samples()
        return {DERIVED: values_frame(values),
                **({"samples": pd.DataFrame(samples, columns=["name", "value"])} if samples else {})}
