"""Run Locust headless in its own process and read what it measured into DataFrames.

Locust monkey-patches the interpreter with gevent, which hangs a notebook kernel, so a
run is always a subprocess. ``run(workload)`` returns a ``LoadResult`` whose frames are
per endpoint (``stats``), per second (``history``), per error (``failures``) and per
request (``requests``). A run whose load generator ran out of CPU is marked
``untrusted``: its low throughput is the generator's, not the server's.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import psutil

from analysis.collect.locust import read_failures, read_history, read_profile, read_requests, read_stats
from analysis.interrupts import signals_as_interrupt
from analysis.provenance import git_commit, machine
from analysis.results import RunMeta, save_run
from analysis.settings import REPO, Settings

LOADTESTS = REPO / "loadtests"
REQUESTS_FILE_ENV = "LAB_REQUESTS_FILE"  # both read by loadtests/common.py
FINAL_STATS_ENV = "LAB_FINAL_STATS"
PROFILE_FILE_ENV = "LAB_PROFILE_FILE"  # read by loadtests/shapes.py
ARRIVALS_FILE_ENV = "LAB_ARRIVALS_FILE"  # read by loadtests/arrivals.py (open-loop levels)
GO_FILE_ENV = "LAB_GO_FILE"  # read by loadtests/common.py: the test begins once this file exists
CPU_WARNING = "CPU usage above"  # what Locust logs when it saturates a core


@dataclass(frozen=True)
class Workload:
    """What load to apply. ``locustfile`` is a path or a name in loadtests/ (``api``, ``truthsync``);
    ``options`` are the locustfile's knobs as Locust options, e.g. ``{"write-share": 0.2}``."""

    locustfile: str
    host: str
    users: int = 10
    spawn_rate: float = 5.0
    duration_s: float = 30.0
    shape: str = "constant"
    options: dict[str, str | int | float] = field(default_factory=dict)
    user_classes: tuple[str, ...] = ()
    processes: int = 1  # Locust worker processes (--processes) when one generator process saturates

    @property
    def path(self) -> Path:
        p = Path(self.locustfile)
        return p if p.suffix == ".py" else LOADTESTS / f"{self.locustfile}.py"


@dataclass(frozen=True)
class SaturationRule:
    """When to distrust a run: Locust's own CPU warning, or its CPU at ``cpu_percent`` of one core
    or more in at least ``min_share`` of the per-second samples while the load was on (start-up
    and shutdown left out). Below 90 %: on a busy machine a saturated Locust gets less than a core."""

    cpu_percent: float = 80.0
    min_share: float = 0.5


@dataclass
class LoadResult:
    run_id: str
    workload: Workload
    started: datetime
    ended: datetime
    stats: pd.DataFrame  # one row per endpoint, plus name == "Aggregated"
    history: pd.DataFrame  # one row per second and endpoint
    failures: pd.DataFrame
    requests: pd.DataFrame  # one row per request: timestamp, type, name, response_time_ms, success
    generator_cpu: pd.DataFrame  # timestamp, cpu_percent of the Locust process
    stages: pd.DataFrame  # the load profile: start, end (UTC), users, spawn_rate, fault (label of a fault window)
    untrusted: bool
    untrusted_reason: str
    interrupted: bool
    exit_code: int | None
    run_dir: Path

    def summary(self) -> dict:
        """The figures a person checks first, from the per-request log when it exists (exact)."""
        req = self.requests
        seconds = max((self.ended - self.started).total_seconds(), 1e-9)
        if len(req):
            ms = req["response_time_ms"]
            span = (req["timestamp"].max() - req["timestamp"].min()).total_seconds()
            seconds = span if span > 0 else seconds
            requests, failures = len(req), int((~req["success"]).sum())
            p50, p95, p99 = (float(ms.quantile(q)) for q in (0.5, 0.95, 0.99))
        else:
            agg = self.stats[self.stats["name"] == "Aggregated"]
            row = agg.iloc[0] if len(agg) else pd.Series(dtype=float)
            requests, failures = int(row.get("requests", 0)), int(row.get("failures", 0))
            p50, p95, p99 = (float(row.get(c, float("nan"))) for c in ("p50_ms", "p95_ms", "p99_ms"))
        return {"run_id": self.run_id, "requests": requests, "failures": failures,
                "rps": round(requests / seconds, 2), "p50_ms": p50, "p95_ms": p95, "p99_ms": p99,
                "untrusted": self.untrusted}

    def frames(self) -> dict[str, pd.DataFrame]:
        return {"stats": self.stats, "history": self.history, "failures": self.failures,
                "requests": self.requests, "generator_cpu": self.generator_cpu, "stages": self.stages}


def locust_command(w: Workload, prefix: Path) -> list[str]:
    cmd = [sys.executable, "-m", "locust", "-f", str(w.path), "--headless", "--host", w.host,
           "-u", str(w.users), "-r", str(w.spawn_rate), "-t", f"{int(round(w.duration_s))}s",
           "--csv", str(prefix), "--csv-full-history", "--only-summary", "--loglevel", "WARNING",
           "--logfile", str(prefix.parent / "locust.log"), "--exit-code-on-error", "0",
           # users mid-task (a listener on the notification stream) get 1 s to finish, not the run's budget
           "--stop-timeout", "1"]
    if w.shape != "constant":
        cmd += ["--shape", w.shape]
    if w.processes > 1:
        cmd += ["--processes", str(w.processes)]
    for key, value in w.options.items():
        cmd += [f"--{key}", str(value)]
    return cmd + list(w.user_classes)


def run(workload: Workload, run_dir: Path | None = None, progress: bool = True,
        saturation: SaturationRule = SaturationRule()) -> LoadResult:
    """Apply ``workload`` and return what was measured. Ctrl-C (or SIGTERM) stops Locust and
    returns the partial run, marked ``interrupted``; no Locust process outlives this call."""
    with Launched(workload, run_dir) as pending:
        return pending.go(progress, saturation)


class Launched:
    """A Locust process started and held at its gate: its imports overlap what the lab still prepares
    (resets, snapshots, probes), and the load begins at ``go()``. Used as a context manager, a run
    never given its go (an error, Ctrl-C) is stopped on the way out."""

    def __init__(self, workload: Workload, run_dir: Path | None = None):
        if not workload.path.exists():
            raise FileNotFoundError(f"no locustfile {workload.path}: pass a path or one of "
                                    f"{sorted(p.stem for p in LOADTESTS.glob('*.py'))}")
        self.workload = workload
        self.run_id = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{workload.path.stem}-{uuid.uuid4().hex[:6]}"
        self.run_dir = run_dir or Settings.from_env().run_dir / "load" / self.run_id
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.gate = self.run_dir / "go"
        self.gate.unlink(missing_ok=True)
        with open(self.run_dir / "locust.out", "wb") as out:
            self.proc = subprocess.Popen(locust_command(workload, self.run_dir / "locust"),
                                         env={**_environment(self.run_dir), GO_FILE_ENV: str(self.gate)},
                                         cwd=self.run_dir, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, preexec_fn=_own_session)
        (self.run_dir / "locust.pid").write_text(str(self.proc.pid))

    def __enter__(self) -> "Launched":
        return self

    def __exit__(self, *exc) -> None:
        self.cancel()

    def cancel(self) -> None:
        """Stop the process if it still runs (a run that got its go has already been stopped)."""
        if self.proc.returncode is None:
            _stop(self.proc)
        (self.run_dir / "locust.pid").unlink(missing_ok=True)

    def go(self, progress: bool = True, saturation: SaturationRule = SaturationRule()) -> LoadResult:
        """Open the gate, watch the run to its end and read what Locust measured."""
        workload, run_dir, proc, prefix = self.workload, self.run_dir, self.proc, self.run_dir / "locust"
        started = datetime.now(timezone.utc)
        self.gate.touch()
        cpu, interrupted = [], False
        try:
            with signals_as_interrupt(signal.SIGINT, signal.SIGTERM):
                _watch(proc, workload, prefix, cpu, progress)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            self.cancel()  # only a killed runner leaves locust.pid: see stop_orphans
        ended = datetime.now(timezone.utc)
        if not interrupted:
            _check_it_ran(proc.returncode, (ended - started).total_seconds(), prefix, run_dir)
        generator_cpu = pd.DataFrame(cpu, columns=["timestamp", "cpu_percent"])
        log = "".join(p.read_text(errors="replace") for p in (run_dir / "locust.log", run_dir / "locust.out")
                      if p.exists())
        load_on = generator_cpu["timestamp"] <= started + timedelta(seconds=workload.duration_s + 1)
        untrusted, reason = judge_saturation(generator_cpu[load_on], log, saturation)
        final = _final(run_dir, prefix)
        return LoadResult(self.run_id, workload, started, ended, stats=read_stats(f"{final}_stats.csv"),
                          history=read_history(f"{prefix}_stats_history.csv"),
                          failures=read_failures(f"{final}_failures.csv"),
                          requests=read_requests(run_dir / "requests.csv"), generator_cpu=generator_cpu,
                          stages=_stages(run_dir), untrusted=untrusted, untrusted_reason=reason,
                          interrupted=interrupted, exit_code=proc.returncode, run_dir=run_dir)


def _stages(run_dir: Path) -> pd.DataFrame:
    """The load levels played: open-loop arrival levels (rate in ``users``) if any, else the shape's stages."""
    arrivals = run_dir / "arrivals.json"
    return read_profile(arrivals if arrivals.exists() else run_dir / "profile.json")


class LoadError(RuntimeError):
    """Locust exited without measuring anything; the message holds its own words. Nothing is stored."""


def _check_it_ran(exit_code: int | None, seconds: float, prefix: Path, run_dir: Path) -> None:
    """Raise LoadError when Locust failed or sent no request: such a run is not a measurement."""
    if exit_code == 0 and requests_sent(_final(run_dir, prefix)) > 0:
        return
    said = _last_words(run_dir)
    what = f"exited with code {exit_code}" if exit_code else "sent no request"
    raise LoadError(f"Locust {what} after {seconds:.1f} s; nothing was stored as a measurement. "
                    f"It said: {said or '(nothing)'}\n(full output in {run_dir / 'locust.out'})")


def _final(run_dir: Path, prefix: Path) -> Path:
    """The prefix of the end-of-run stats: exact ones if loadtests/common.py wrote them, else Locust's."""
    return run_dir / "final" if (run_dir / "final_stats.csv").exists() else prefix


def requests_sent(prefix: Path) -> int:
    """Requests Locust has counted so far in ``<prefix>_stats.csv`` (rewritten every few seconds)."""
    stats = read_stats(f"{prefix}_stats.csv")
    total = stats[stats["name"] == "Aggregated"] if len(stats) else stats
    return int(total["requests"].iloc[0]) if len(total) else 0


def _last_words(run_dir: Path, lines: int = 3) -> str:
    """The last lines Locust wrote (its error message, or a traceback's last line)."""
    text = "".join(p.read_text(errors="replace") for p in (run_dir / "locust.log", run_dir / "locust.out")
                   if p.exists())
    kept = [line.strip() for line in text.splitlines() if line.strip()]
    return " / ".join(kept[-lines:])


def _environment(run_dir: Path) -> dict[str, str]:
    """Where loadtests/common.py and shapes.py write their files; loadtests/ and the repo importable."""
    return {**os.environ, REQUESTS_FILE_ENV: str(run_dir / "requests.csv"), FINAL_STATS_ENV: str(run_dir / "final"),
            PROFILE_FILE_ENV: str(run_dir / "profile.json"), ARRIVALS_FILE_ENV: str(run_dir / "arrivals.json"),
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(LOADTESTS), str(REPO), os.environ.get("PYTHONPATH")]))}


def _own_session() -> None:
    """In the Locust child: its own process group (a terminal's Ctrl-C reaches us, we stop it), and
    SIGINT handled even if the lab was started with it ignored (``cmd &`` in a script)."""
    os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _watch(proc: subprocess.Popen, w: Workload, prefix: Path, cpu: list, progress: bool) -> None:
    """Sample the generator's CPU each second until Locust exits (or overruns its time by far)."""
    generators = _Generators(proc.pid)
    deadline = time.monotonic() + w.duration_s + 60
    bar = _Progress(w, prefix) if progress else None
    try:
        while proc.poll() is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"Locust still runs 60 s after its {w.duration_s:.0f} s: see {prefix.parent}")
            try:  # a second between samples, but back at once when Locust exits
                proc.wait(timeout=1.0)
                break
            except subprocess.TimeoutExpired:
                pass
            busiest = generators.busiest()
            if busiest is None:
                break
            cpu.append((datetime.now(timezone.utc), busiest))
            if bar:
                bar.update(cpu[-1][1])
    finally:
        if bar:
            bar.close()


class _Generators:
    """Locust's processes (the master and, under ``--processes``, its workers): the CPU of the busiest,
    since one saturated generator process is enough to cap the load it offers."""

    def __init__(self, pid: int):
        self.root = psutil.Process(pid)
        self.known: dict[int, psutil.Process] = {}

    def busiest(self) -> float | None:
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return None
        samples = []
        for p in procs:
            if p.pid not in self.known:  # its first reading only starts the clock
                self.known[p.pid] = p
                p.cpu_percent(None)
                continue
            try:
                samples.append(self.known[p.pid].cpu_percent(None))
            except psutil.NoSuchProcess:
                self.known.pop(p.pid, None)
        return max(samples, default=0.0)


class _Progress:
    """A rich progress bar on stderr (terminal or notebook): elapsed time, requests so far, generator CPU."""

    def __init__(self, w: Workload, prefix: Path):
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
        self.prefix, self.t0 = prefix, time.monotonic()
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                            TextColumn("{task.fields[status]}"), console=Console(stderr=True))
        self.task = self.bar.add_task(f"load {w.path.stem} {w.users} users", total=w.duration_s, status="")
        self.bar.start()

    def update(self, cpu_percent: float) -> None:
        stats = read_stats(f"{self.prefix}_stats.csv")  # Locust flushes it every few seconds
        agg = stats[stats["name"] == "Aggregated"] if len(stats) else stats
        done = f"{int(agg['requests'].iloc[0])} requests, " if len(agg) else ""
        self.bar.update(self.task, completed=time.monotonic() - self.t0,
                        status=f"{done}locust CPU {cpu_percent:.0f}%")

    def close(self) -> None:
        self.bar.stop()


def _stop(proc: subprocess.Popen) -> None:
    """Ask Locust to stop with SIGINT, which it handles in every mode (with a load shape it dies
    on SIGTERM without writing its files); kill its process group if it lingers."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def stop_orphans(run_dir: Path) -> list[int]:
    """Kill the Locust processes whose runner was killed (SIGKILL) before it could stop them: each runs
    in its own session, so nothing else would. Found by the ``locust.pid`` a runner removes when it ends."""
    stopped = []
    for pidfile in Path(run_dir).glob("load/**/locust.pid"):
        try:
            proc = psutil.Process(int(pidfile.read_text().strip()))
            ours = proc.cwd() == str(pidfile.parent) and "locust" in " ".join(proc.cmdline())
        except (ValueError, psutil.Error):
            ours = False
        if ours:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
            except (ProcessLookupError, psutil.Error):
                pass
            stopped.append(proc.pid)
        pidfile.unlink(missing_ok=True)
    return stopped


def judge_saturation(cpu: pd.DataFrame, log: str, rule: SaturationRule) -> tuple[bool, str]:
    """(untrusted, why) from the generator's CPU samples and Locust's log."""
    if CPU_WARNING in log:
        return True, "Locust warned that its CPU was above 90 %: the generator, not the server, set the pace"
    samples = cpu["cpu_percent"].iloc[1:] if len(cpu) > 2 else cpu["cpu_percent"]
    if len(samples) >= 2:
        share = float((samples >= rule.cpu_percent).mean())
        if share >= rule.min_share:
            return True, (f"the load generator used >= {rule.cpu_percent:.0f} % of a core in {share:.0%} of "
                          "its samples: add Locust processes or lower the load")
    return False, ""


def parse_duration(text: str) -> float:
    """``30s``, ``2m``, ``1h30m`` or plain seconds → seconds."""
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s?)?", text.strip())
    if not text.strip() or not parts:
        raise ValueError(f"duration {text!r}: write it like 30s, 2m or 1h30m")
    h, m, sec = parts.groups()
    return int(h or 0) * 3600 + int(m or 0) * 60 + float(sec or 0)


def default_host(locustfile: str, settings: Settings) -> str:
    """Through the stack's Nginx, as users arrive: ``/api/…`` as is, TruthSync under ``/truthsync``."""
    return settings.url("nginx") + ("/truthsync" if Path(locustfile).stem == "truthsync" else "")


def save(result: LoadResult, results_dir: Path, study: str = "load",
         extra: dict[str, pd.DataFrame] | None = None) -> Path:
    """Store an ad-hoc run as ``results/<study>/<run_id>/`` (meta.json + Parquet per frame, atomic),
    with ``extra`` frames beside Locust's. No study.json is written, so ``compare`` never mistakes
    ad-hoc runs for a study."""
    meta = RunMeta(result.run_id, study, result.workload.path.stem, "adhoc", 0, stack=Settings.from_env().stack,
                   machine=machine(), git_commit=git_commit(), start=result.started.isoformat(),
                   end=result.ended.isoformat(), workload=asdict(result.workload), untrusted=result.untrusted,
                   untrusted_reason=result.untrusted_reason or None)
    return save_run(Path(results_dir) / study, meta, {**result.frames(), **(extra or {})})
