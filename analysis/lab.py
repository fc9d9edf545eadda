"""The notebook-facing API: ``from analysis import lab``.

Thin calls into the modules the CLI uses (``analysis.stack``, ``load``, ``experiment``, ``stats``,
``collect``), returning DataFrames and dataclasses a notebook displays. Every call reads the
settings from the environment (``LAB_PORT_BASE``, ``LAB_STACK``, ``LAB_RESULTS_DIR``, …) or takes
``stack=`` explicitly, so there is no hidden session state. Locust always runs in its own process
(``analysis.load``): gevent never enters the kernel.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from analysis import load as lab_load
from analysis import report, results
from analysis import sweep as sweeps
from analysis.collect import postgres, redis as redis_collect
from analysis.collect.log_source import log_source
from analysis.collect.logs import LogQuery
from analysis.collect.prometheus import QUERIES, Prometheus
from analysis.experiment import Progress, Study, study_config
from analysis.settings import Settings
from analysis.stack import open_stack
from analysis.stats import compare_study

STATUS_COLUMNS = ["name", "state", "port", "url", "pid", "detail"]


def settings(stack: str | None = None) -> Settings:
    """The lab's settings as the CLI would read them (environment, then ``stack``)."""
    return Settings.from_env(stack=stack)


def _stack(stack: str | None):
    return open_stack(settings(stack))


def _status_frame(statuses) -> pd.DataFrame:
    return pd.DataFrame([asdict(s) for s in statuses], columns=STATUS_COLUMNS)


# -- the stack -------------------------------------------------------------------------------

def up(stack: str | None = None, **toggles: str) -> pd.DataFrame:
    """Stand the stack up with these toggles (``lab.up(SENTINEL_CACHE="on")``); waits until every
    service is healthy and returns ``status()``."""
    with tqdm(total=1, desc="starting the stack (waits until every service is healthy)") as bar:
        statuses = _stack(stack).up(toggles or None)
        bar.update(1)
    return _status_frame(statuses)


def apply(stack: str | None = None, **toggles: str) -> list[str]:
    """Flip toggles on the running stack; returns the services restarted."""
    return _stack(stack).apply(toggles)


def status(stack: str | None = None) -> pd.DataFrame:
    """One row per service: name, state (healthy, unhealthy, stopped), port, url, pid, detail."""
    return _status_frame(_stack(stack).status())


def down(stack: str | None = None) -> None:
    """Stop every service; no process and no listening port of the lab remain."""
    _stack(stack).down()


# -- load ------------------------------------------------------------------------------------

@dataclass
class LoadRun:
    """One Locust run with what Postgres and Redis did during it (deltas of their counters)."""

    result: lab_load.LoadResult
    postgres: pd.DataFrame  # per statement: calls, total_exec_time_ms, rows, … (collect.postgres)
    redis: pd.DataFrame  # counter increases, calls per command (collect.redis)
    path: Path  # where it is stored: results/load/<run_id>/

    @property
    def start(self) -> datetime:
        return self.result.started

    @property
    def end(self) -> datetime:
        return self.result.ended

    @property
    def frames(self) -> dict[str, pd.DataFrame]:
        return {**self.result.frames(), "postgres": self.postgres, "redis": self.redis}

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame([self.result.summary()])


def load(workload: str = "api", users: int = 10, duration: float | str = 30.0, shape: str = "constant",
         spawn_rate: float = 5.0, options: dict | None = None, stack: str | None = None) -> LoadRun:
    """One Locust run against the running stack (through its Nginx), with a progress bar; Postgres
    and Redis are snapshotted around it. Stored under ``results/load/`` like ``sentinel-lab load``."""
    s = settings(stack)
    seconds = lab_load.parse_duration(duration) if isinstance(duration, str) else float(duration)
    workload_ = lab_load.Workload(workload, lab_load.default_host(workload, s), users, spawn_rate, seconds, shape,
                                  dict(options or {}))
    pg_before, redis_before = postgres.statements(s.database_url), redis_collect.snapshot_all(s.redis_urls())
    result = lab_load.run(workload_)
    servers = {"postgres": postgres.statements_delta(pg_before, postgres.statements(s.database_url)),
               "redis": redis_collect.changes(redis_before, redis_collect.snapshot_all(s.redis_urls()))}
    return LoadRun(result, servers["postgres"], servers["redis"],
                   lab_load.save(result, s.results_dir, extra=servers))


# -- studies ---------------------------------------------------------------------------------

@dataclass
class StudyResult:
    """What ``study`` measured: the comparison (``stats.compare_study``), where the runs are, and
    whether it was interrupted (the finished runs are kept either way)."""

    study_dir: Path
    comparison: pd.DataFrame
    completed: list[str] = field(default_factory=list)
    interrupted: bool = False

    @property
    def study(self) -> str:
        return self.study_dir.name

    def _repr_html_(self) -> str:
        note = (f"<p><b>Interrupted</b>: {len(self.completed)} runs kept; finish with "
                f"<code>sentinel-lab study --resume {self.study}</code>.</p>" if self.interrupted else "")
        return f"<p>study <code>{self.study}</code></p>{note}" + report.verdict_table_html(self.comparison)


class _StudyBar:
    """The study's progress as a notebook (or terminal) progress bar: runs done, the current run, time left."""

    def __init__(self):
        self.bar = None

    def __call__(self, p: Progress) -> None:
        if self.bar is None:
            self.bar = tqdm(total=p.total, unit="run", desc="study")
        self.bar.n = p.done
        what = "warm-up" if p.step.warmup else f"repeat {p.step.repeat + 1}"
        self.bar.set_description(f"{p.step.pattern} · {p.step.arm} · {what}")
        self.bar.set_postfix_str(f"~{p.seconds_left / 60:.1f} min left")

    def close(self, done: int) -> None:
        if self.bar is not None:
            self.bar.n = done
            self.bar.set_postfix_str("done")
            self.bar.close()


def pattern_ids(text: str) -> list[str]:
    """Pattern ids from text as papermill's ``-p patterns`` passes it: a JSON list (``'["redis-cache"]'``)
    or ids separated by commas or spaces."""
    if text.strip().startswith("["):
        return [str(i) for i in json.loads(text)]
    return [i for i in re.split(r"[,\s]+", text) if i]


def study(patterns: list[str] | str, repeats: int | None = None, quick: bool = False,
          duration: float | None = None, warmup: float | None = None, users: int | None = None,
          keep_up: bool = False, study_id: str = "", stack: str | None = None) -> StudyResult:
    """Run the patterns' arms interleaved and repeated (as ``sentinel-lab study``), with a progress
    bar. Stands the stack up if it is not running and takes it down afterwards unless ``keep_up``.
    The stop button keeps every finished run, restores the toggles and returns what was measured."""
    ids = pattern_ids(patterns) if isinstance(patterns, str) else list(patterns)
    config = study_config(ids, repeats, duration, warmup, quick=quick, keep_up=keep_up, users=users,
                          study_id=study_id)
    outcome, measured = _run_study(config, stack)
    table = compare_study(outcome.study_dir) if measured else pd.DataFrame()
    return StudyResult(outcome.study_dir, table, outcome.completed, outcome.interrupted)


def _run_study(config, stack: str | None):
    """Run ``config`` with a progress bar; the outcome and whether any measured run is stored."""
    bar = _StudyBar()
    outcome = Study(config, settings(stack), report=bar).run()
    bar.close(len(outcome.completed))
    measured = any(not r.warmup for r in results.load_study(outcome.study_dir).runs) \
        if (outcome.study_dir / "study.json").exists() else False
    if outcome.interrupted:
        print(f"interrupted: {len(outcome.completed)} runs kept; finish with "
              f"`sentinel-lab study --resume {config.study_id}`")
    return outcome, measured


@dataclass
class SweepResult:
    """What ``sweep`` measured: per metric its dose-response (``sweep.DoseResponse``), and the long table."""

    study_dir: Path
    responses: list[sweeps.DoseResponse]
    completed: list[str] = field(default_factory=list)
    interrupted: bool = False

    @property
    def study(self) -> str:
        return self.study_dir.name

    @property
    def table(self) -> pd.DataFrame:
        return sweeps.table(self.responses)

    def _repr_html_(self) -> str:
        items = "".join(f"<li>{r.summary()}</li>" for r in self.responses)
        return f"<p>sweep <code>{self.study}</code></p><ul>{items}</ul>"


def sweep(pattern: str, values: str, repeats: int | None = None, quick: bool = False,
          duration: float | None = None, warmup: float | None = None, users: int | None = None,
          reference: bool = True, keep_up: bool = False, study_id: str = "", stack: str | None = None) -> SweepResult:
    """A dose-response study (as ``sentinel-lab study PATTERN --sweep``): ``values`` is ``"NAME=V1,V2,…"``;
    the pattern's treatment runs at each value, beside its baseline unless ``reference=False``."""
    config = study_config([pattern], repeats, duration, warmup, quick=quick, keep_up=keep_up, users=users,
                          study_id=study_id, sweep=sweeps.Sweep.parse(values, reference))
    outcome, measured = _run_study(config, stack)
    responses = sweeps.analyse(outcome.study_dir) if measured else []
    return SweepResult(outcome.study_dir, responses, outcome.completed, outcome.interrupted)


def render_report(study_dir: str | Path, stack: str | None = None) -> Path:
    """The study's HTML report (``reports/<study>/index.html``), as ``sentinel-lab report`` renders it."""
    return report.render(Path(study_dir), settings(stack).reports_dir)


# -- what the servers saw --------------------------------------------------------------------

def query(promql: str, start: datetime, end: datetime, step: str = "1s", stack: str | None = None) -> pd.DataFrame:
    """A Prometheus range query as a tidy frame (timestamp, metric, value, labels). ``promql`` may
    also be one of the lab's named queries (``collect.prometheus.QUERIES``, e.g. ``latency_p95_s``)."""
    prom = Prometheus(settings(stack).url("prometheus"))
    if promql in QUERIES:
        return prom.named(promql, start, end, step=step)
    return prom.range(promql, start, end, step=step)


def pg_top(run: LoadRun | pd.DataFrame, n: int = 10, by: str = "total_exec_time_ms",
           user: str | None = None) -> pd.DataFrame:
    """The ``n`` heaviest statements of a run (a ``LoadRun`` or a stored ``postgres`` frame), one row
    per statement: query, calls, total and mean time, rows, blocks read. Only the application's role
    by default (``Settings.db_user``): the lab's own monitoring queries are not the workload's;
    ``user=""`` shows every role."""
    frame = run.postgres if isinstance(run, LoadRun) else run
    user = settings().db_user if user is None else user
    if user and not frame.empty:
        frame = frame[frame["user"] == user]
    if frame.empty:
        return pd.DataFrame(columns=["query", "user", "calls", by])
    wide = frame.pivot_table(index=["query", "user"], columns="metric", values="value", aggfunc="sum")
    return wide.sort_values(by, ascending=False).head(n).reset_index()


def logs(query: str = "", start: datetime | None = None, end: datetime | None = None, service: str | None = None,
         level: str | None = None, stack: str | None = None) -> pd.DataFrame:
    """Log lines whose message contains ``query``, as a frame (timestamp, service, level, message, …):
    the JSON-lines files on the local stack, Loki on the compose stack."""
    return log_source(settings(stack)).lines(LogQuery(service, level, query or None, start, end))


# -- stored runs -----------------------------------------------------------------------------

@dataclass
class StoredRun:
    """One run of a stored study: its ``meta.json`` and one frame per source it stored."""

    study_dir: Path
    meta: results.RunMeta
    frames: dict[str, pd.DataFrame]

    @property
    def start(self) -> pd.Timestamp:
        return pd.Timestamp(self.meta.start)

    @property
    def end(self) -> pd.Timestamp:
        return pd.Timestamp(self.meta.end)

    @property
    def runs(self) -> pd.DataFrame:
        """This run as ``results.runs`` lists it (what ``plots.timeline`` takes)."""
        every = results.runs(self.study_dir)
        return every[every["run_id"] == self.meta.run_id].reset_index(drop=True)


def open_run(study: str = "", run: str = "", results_dir: str | Path = "") -> StoredRun:
    """A stored run (default: the latest study's first measured run) with every source it stored."""
    path = report.study_dir(study, results_dir)
    stored = results.load_study(path).runs
    if not stored:
        raise results.ResultsError(f"study {path.name} holds no complete run yet")
    if run:
        chosen = next((m for m in stored if m.run_id == run), None)
        if chosen is None:
            raise results.ResultsError(f"no run {run!r} in {path.name}; its runs: "
                                       f"{', '.join(m.run_id for m in stored)}")
    else:
        chosen = min((m for m in stored if not m.warmup), key=lambda m: m.start or "", default=stored[0])
    # labelled like results.load_source's frames, so the report's figures take them as they are
    frames = {p.stem: pd.read_parquet(p).assign(run_id=chosen.run_id, arm=chosen.arm, repeat=chosen.repeat)
              for p in sorted((path / chosen.run_id).glob("*.parquet"))}
    return StoredRun(path, chosen, frames)
