"""A study: each pattern's arms, interleaved and repeated, into the results store.

Arms alternate ABBA… (baseline, treatment, treatment, baseline, …) after one
discarded warm-up run, so drift on a shared machine cancels out. Each run is
stored the moment it ends; a study killed at any point resumes where it
stopped (``resume=True``), and the stack is restored or taken down on the way out.
"""
from __future__ import annotations

import fnmatch
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import pandas as pd
import redis

from analysis import backtest, devices, load, remediation, results, seeding
from analysis import sweep as sweeps
from analysis import patterns as pats
from analysis.capacity import CapacityPlan
from analysis.collect.base import RunContext
from analysis.derive import derive
from analysis.interrupts import signals_as_interrupt
from analysis.provenance import git_commit, machine
from analysis.repeats import DEFAULT_REPEATS, QUICK_REPEATS
from analysis.results import RunMeta
from analysis.settings import Settings
from analysis.stack import catalogue, open_stack, routing, toggles
from analysis.stack.base import Stack
from analysis.stack.lifecycle import stack_up

ARMS = ("baseline", "treatment")


class StudyError(RuntimeError):
    """The study cannot go on; the message says what to do."""


@dataclass(frozen=True)
class Step:
    """One run of a study: which pattern, which arm, which repeat; warm-up runs are discarded."""

    pattern: str
    arm: str
    repeat: int
    warmup: bool = False

    @property
    def run_id(self) -> str:
        return f"{self.pattern}-warmup-{self.arm}" if self.warmup else f"{self.pattern}-r{self.repeat}-{self.arm}"


def schedule(pattern_ids: list[str], repeats: int, warmup: bool = True,
             arms: tuple[str, ...] = ARMS, quick: bool = False) -> list[Step]:
    """Per pattern: a warm-up, then arms in ABBA order (AB, BA, AB, …) — never all A then all B.
    ``arms=("baseline",)`` measures one configuration only (a capacity sweep without a comparison);
    in a ``quick`` study a pattern with long runs makes at most its ``quick_repeats``."""
    steps = []
    for pid in pattern_ids:
        if warmup:
            steps.append(Step(pid, arms[0], 0, warmup=True))
        for r in range(pats.get(pid).runs_per_arm(repeats, quick)):
            # two arms: ABBA; a sweep's several: a rotated (Latin-square) order
            order = (arms if r % 2 == 0 else arms[::-1]) if len(arms) <= 2 else sweeps.rotated(arms, r)
            steps += [Step(pid, arm, r) for arm in order]
    return steps


def study_name(pattern_ids: list[str], width: int = 60) -> str:
    """Pattern ids joined by '-', whole ids only, within ``width``; the rest counted (``…-and-3-more``)."""
    name = ""
    for i, pid in enumerate(pattern_ids):
        rest = len(pattern_ids) - i
        if len(f"{name}-{pid}".lstrip("-")) + (len(f"-and-{rest - 1}-more") if rest > 1 else 0) > width:
            return f"{name}-and-{rest}-more".lstrip("-")
        name = f"{name}-{pid}".lstrip("-")
    return name


@dataclass
class StudyConfig:
    patterns: list[str]
    repeats: int = DEFAULT_REPEATS
    duration_s: float = 60.0
    warmup_s: float = 15.0
    study_id: str = ""
    keep_up: bool = False
    seed_scale: str = "small"
    users: int | None = None  # overrides the pattern's workload
    seed: bool = True  # seed the data the workloads need before the first run
    arms: tuple[str, ...] = ARMS
    toggles: dict[str, str] = field(default_factory=dict)  # set in every run, over the arm's (capacity --set)
    capacity: CapacityPlan | None = None  # overrides a capacity pattern's levels (sentinel-lab capacity)
    rules: str | None = None  # alert patterns: a user's rule file, backtested as the treatment (--rules)
    quick: bool = False  # a quick study: patterns with long runs make at most their quick_repeats
    sweep: sweeps.Sweep | None = None  # a dose-response study: one toggle over several values (its arms)

    def arm_toggles(self, pattern: pats.Pattern, arm: str) -> dict[str, str]:
        """What ``arm`` of ``pattern`` sets: the pattern's arm, or a sweep's value on its treatment."""
        return self.sweep.toggles(pattern, arm) if self.sweep else dict(getattr(pattern, arm))

    def __post_init__(self):
        self.study_id = self.study_id or f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-" + study_name(self.patterns)
        if self.sweep:
            for pid in self.patterns:
                self.sweep.check(pats.get(pid))
            self.arms = self.sweep.arms


#: --quick: 4 repeats, not 3: with 3 runs per arm Mann-Whitney cannot reach p < 0.05 (smallest p is 0.1)
#: run lengths of a quick and a plain study; the repeats follow from the test (analysis.repeats)
QUICK_DURATION_S, QUICK_WARMUP_S = 8.0, 2.0
DEFAULT_DURATION_S, DEFAULT_WARMUP_S = 60.0, 15.0


def study_config(patterns: list[str], repeats: int | None = None, duration_s: float | None = None,
                 warmup_s: float | None = None, quick: bool = False, **kw) -> StudyConfig:
    """A StudyConfig with the defaults the CLI and the notebooks share: the plain settings (repeats of
    60 s after a 15 s warm-up) or the quick ones; an explicit value wins over either."""
    return StudyConfig(patterns, repeats or (QUICK_REPEATS if quick else DEFAULT_REPEATS),
                       duration_s or (QUICK_DURATION_S if quick else DEFAULT_DURATION_S),
                       warmup_s if warmup_s is not None else (QUICK_WARMUP_S if quick else DEFAULT_WARMUP_S),
                       quick=quick, **kw)


@dataclass
class Progress:
    """Where a study is and how long it has left; printed by the caller's ``report`` callback."""

    done: int
    total: int
    step: Step
    seconds_left: float

    def line(self) -> str:
        what = "warm-up" if self.step.warmup else f"repeat {self.step.repeat + 1}"
        return (f"[{self.done + 1}/{self.total}] {self.step.pattern} · {self.step.arm} · {what} · "
                f"~{self.seconds_left / 60:.1f} min left")


@dataclass
class StudyOutcome:
    study_dir: Path
    completed: list[str] = field(default_factory=list)
    interrupted: bool = False


class Study:
    """Runs a StudyConfig against a stack. ``run_one`` (a step → frames) is injectable for tests."""

    def __init__(self, config: StudyConfig, settings: Settings | None = None, stack: Stack | None = None,
                 run_one: Callable | None = None, report: Callable[[Progress], None] = lambda p: None):
        self.config, self.settings = config, settings or Settings.from_env()
        self.dir = self.settings.results_dir / config.study_id
        self.stack: Stack = stack if stack is not None else open_stack(self.settings)
        self.run_one = run_one or measure
        self.report = report

    # ---------------------------------------------------------------- public
    def run(self, resume: bool = False) -> StudyOutcome:
        """Run every step not yet stored; restore the stack whatever happens."""
        if self.dir.exists() and not resume:
            raise StudyError(f"study {self.config.study_id} exists; resume it with --resume {self.config.study_id}")
        if self.dir.exists():
            results.clean_partial_runs(self.dir)
        for pid in self.config.patterns:  # an arm the stack could not apply is refused before anything runs
            for arm in self.config.arms:
                routing.check_settings({**self.config.arm_toggles(pats.get(pid), arm), **self.config.toggles},
                                       self.settings)
        outcome = StudyOutcome(self.dir)
        # a study killed (SIGKILL) after starting the stack left it up: its resume owns it and takes it down
        started_before = (resume and (self.dir / "study.json").exists()
                          and results.load_study(self.dir).meta.started_stack)
        with signals_as_interrupt(signal.SIGTERM):
            try:
                with stack_up(self.stack, keep_up=self.config.keep_up, owned=started_before) as started_here:
                    before = dict(self.stack.toggles())
                    try:
                        measurable = self._write_study_json(resume, started_here)
                        if self.config.seed:
                            self._seed(measurable)
                        self._run_steps(schedule(measurable, self.config.repeats, arms=self.config.arms,
                                                 quick=self.config.quick))
                    finally:
                        if not started_here or self.config.keep_up:  # a stack taken down needs no restoring
                            self._restore_toggles(before)
            except KeyboardInterrupt:
                outcome.interrupted = True
        outcome.completed = list(results.runs(self.dir)["run_id"]) if (self.dir / "study.json").exists() else []
        return outcome

    # ------------------------------------------------------------- internals
    def _restore_toggles(self, before: dict) -> None:
        try:
            self.stack.apply({**toggles.defaults(), **before})
        except Exception as exc:  # the stack must not mask why the study stopped
            print(f"could not restore the stack ({exc}); run `sentinel-lab down`", file=sys.stderr)

    def _write_study_json(self, resume: bool, started_stack: bool = False) -> list[str]:
        """Record the study; patterns whose services are absent are ``not measured`` with the reason."""
        absent = catalogue.absent_locally(self.settings) if self.settings.stack == "local" else {}
        healthy = {s.name for s in self.stack.status() if s.state == "healthy"}
        not_measured = {}
        for pid in self.config.patterns:
            missing = pats.missing_services(pats.get(pid), healthy)
            if missing:
                why = "; ".join(f"{m}: {absent.get(m, 'not healthy in this stack')}" for m in missing)
                not_measured[pid] = f"needs {', '.join(missing)} ({why})"
        path = self.dir / "study.json"
        created = results.load_study(self.dir).meta.created if resume and path.exists() else None
        results.write_study(self.dir, results.StudyMeta(
            study=self.config.study_id, created=created or results.utc_now(),
            patterns=self.config.patterns, stack=self.settings.stack, repeats=self.config.repeats,
            duration_s=self.config.duration_s, warmup_s=self.config.warmup_s, quick=self.config.quick,
            absent=absent, not_measured=not_measured, started_stack=started_stack,
            sweep=self.config.sweep.record() if self.config.sweep else None))
        return [p for p in self.config.patterns if p not in not_measured]

    def _seed(self, pattern_ids: list[str]) -> None:
        """Seed the data the workloads need, once per study (the seeders are idempotent)."""
        needs = {s for pid in pattern_ids for s in pats.get(pid).workload.seed}
        try:
            seeding.seed(needs, self.settings, self.config.seed_scale)
        except seeding.SeedError as exc:
            raise StudyError(str(exc)) from exc

    def _run_steps(self, steps: list[Step]) -> None:
        stored = set(results.runs(self.dir)["run_id"])
        todo = [s for s in steps if s.run_id not in stored]
        per_run = self.config.duration_s + 10.0
        done, t0 = [], time.monotonic()
        for i, step in enumerate(todo):
            if done:
                per_run = (time.monotonic() - t0) / len(done)
            self.report(Progress(i + len(steps) - len(todo), len(steps), step, per_run * (len(todo) - i)))
            self._apply(pats.get(step.pattern), step.arm)
            meta, frames = self.run_one(self, step)
            results.save_run(self.dir, meta, frames)
            done.append(step.run_id)

    def _apply(self, pattern: pats.Pattern, arm: str) -> None:
        """Every toggle at its default, then the arm's: each run starts from a known state."""
        target = toggles.validate({**toggles.defaults(), **self.config.arm_toggles(pattern, arm), **self.config.toggles})
        if self.stack.toggles() == target:  # nothing would change (seconds of re-rendering on a busy machine)
            return
        self.stack.apply(target)

    def new_meta(self, step: Step, start: datetime, end: datetime, workload: dict,
                 untrusted: bool = False, why: str | None = None) -> RunMeta:
        pattern = pats.get(step.pattern)
        return RunMeta(step.run_id, self.config.study_id, step.pattern, step.arm, step.repeat, step.warmup,
                       self.settings.stack, {**self.config.arm_toggles(pattern, step.arm), **self.config.toggles},
                       machine(),
                       git_commit(),
                       start.isoformat(), end.isoformat(), workload, untrusted, why or None)


def reset(study: Study, pattern: pats.Pattern) -> None:
    """The pattern's resets before a run: keys deleted, services restarted (cold caches)."""
    restarted = False
    for item in pattern.reset:
        kind, _, what = item.partition(":")
        if kind == "redis":
            for url in study.settings.redis_urls().values():  # a prefix is deleted wherever it lives
                _delete_prefix(url, what)
        elif kind == "restart":
            names = [s.name for s in study.stack.status() if fnmatch.fnmatchcase(s.name, what)]
            restarted = bool(study.stack.restart(names)) or restarted
        else:
            raise StudyError(f"pattern {pattern.id}: unknown reset {item!r} (redis:<prefix> or restart:<glob>)")
    if restarted:  # Prometheus must have scraped the restarted (healthy) processes' fresh counters before the run
        devices.await_scrape(study.settings, datetime.now(timezone.utc))


def measure(study: Study, step: Step) -> tuple[RunMeta, dict[str, pd.DataFrame]]:
    """Drive the pattern's workload once with the pattern's devices (collectors and probes) beside it;
    derive the run's scalars from what they and the load gave."""
    pattern, cfg, settings = pats.get(step.pattern), study.config, study.settings
    if pattern.backtest:  # alert patterns: a fault timeline over the load, rule sets scored against it
        return backtest.measure(study, step)
    if pattern.incidents:  # remediation patterns: curable faults, the loop (or nobody) answering
        return remediation.measure(study, step)
    spec = pattern.workload
    options = {**dict(spec.options), **({"scale": cfg.seed_scale} if spec.locustfile == "api" else {})}
    workload = load.Workload(spec.locustfile, host=settings.url("nginx") + spec.path,
                             users=cfg.users or spec.users, spawn_rate=spec.spawn_rate,
                             duration_s=cfg.warmup_s if step.warmup else cfg.duration_s, options=options)
    plan = (cfg.capacity or CapacityPlan.of(spec, cfg.duration_s)) if spec.levels else None
    if plan and not step.warmup:
        workload = plan.workload(workload)
    # Locust starts now and waits at its gate: its start-up overlaps the resets and the devices' start
    with load.Launched(workload, settings.run_dir / "load" / cfg.study_id / step.run_id) as pending:
        reset(study, pattern)
        ctx = RunContext(settings, {**toggles.defaults(), **cfg.arm_toggles(pattern, step.arm)}, cfg.seed_scale,
                         target=spec.locustfile, stack=study.stack, plan=plan)
        run_devices = devices.for_run(pattern, warmup=step.warmup)
        run_devices.start(ctx)
        result = pending.go(progress=False)
    ctx.start, ctx.end, ctx.load = result.started, result.ended, result
    run_devices.stop(ctx)
    if result.interrupted:
        raise KeyboardInterrupt
    devices.await_scrape(settings, result.ended)  # the run's last counts are in Prometheus
    collected = run_devices.finish(ctx)
    frames = {"requests": result.requests, "stats": result.stats, "history": result.history, **collected.frames}
    frames["derived"] = derive(frames, (result.ended - result.started).total_seconds(), collected.values,
                               settings.db_user)
    meta = study.new_meta(step, result.started, result.ended, asdict(workload), result.untrusted,
                          result.untrusted_reason)
    meta.workload["probe_errors"] = collected.errors
    return meta, frames


def _delete_prefix(redis_url: str, prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for i in range(0, len(keys), 500):
            client.unlink(*keys[i:i + 500])
    finally:
        client.close()
