"""The ``sentinel-lab`` command: up, down, status, apply, load, study, compare, report, patterns."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Sentinel Lab: did this optimisation really help, by how much, at what cost?",
                  no_args_is_help=True, add_completion=False)
# piped or scheduled output gets room for the comparison table instead of an 80-column squeeze
console = Console() if sys.stdout.isatty() else Console(width=200)
err = Console(stderr=True)

from analysis import backtest, resilience, seeding
from analysis import capacity as cap
from analysis import load as lab_load
from analysis import patterns as pats
from analysis.backtest import summaries
from analysis.calibration import false_positive_rate, store, summarize
from analysis.experiment import (DEFAULT_DURATION_S, QUICK_DURATION_S, QUICK_WARMUP_S, Study, StudyConfig, StudyError,
                                 study_config)
from analysis.load import stop_orphans
from analysis.patterns import PATTERNS
from analysis.remediation import summaries as remediation_summaries
from analysis.repeats import DEFAULT_REPEATS, QUICK_REPEATS
from analysis.report import ReportError, method_lines, render
from analysis.report import study_dir as report_study_dir
from analysis.results import ResultsError, latest_study, load_study
from analysis.settings import Settings
from analysis.stack import open_stack
from analysis.stack.compose_check import compose_checks
from analysis.stack.lifecycle import stack_up
from analysis.stack.toggles import ToggleError, parse_assignments
from analysis.sweep import Sweep, SweepError
from analysis import sweep as sweeps
from analysis.stats import COLUMNS, VERDICT_COLOURS, compare_study, format_change

StackOpt = typer.Option(None, "--stack", help="local (default, processes on loopback) or compose (Docker)")
SetOpt = typer.Option(None, "--set", help="toggle NAME=VALUE, repeatable (e.g. SENTINEL_CACHE=on)")


def _stack(stack: Optional[str]):
    return open_stack(Settings.from_env(stack=stack))


def _fail(exc: Exception) -> None:
    err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)  # one line, whatever the terminal width
    raise typer.Exit(1)


def _print_status(stack, statuses) -> None:
    table = Table(title=f"Sentinel stack ({stack.kind})")
    for col in ("service", "state", "port", "url"):
        table.add_column(col)
    colour = {"healthy": "green", "unhealthy": "red", "stopped": "yellow"}
    for s in statuses:
        table.add_row(s.name, f"[{colour[s.state]}]{s.state}[/]", str(s.port or ""), s.url or "")
    console.print(table)


@app.command()
def up(stack: Optional[str] = StackOpt, set_: Optional[list[str]] = SetOpt,
       check: bool = typer.Option(False, "--check", help="compose: then walk the first-start checks live "
                                  "(targets up, alert routing, logs through Alloy and Loki, Grafana auth)")) -> None:
    """Stand the stack up and wait until every service is healthy."""
    try:
        st = _stack(stack)
        if check and st.kind != "compose":
            raise ValueError("--check walks the compose stack's first-start checks: add --stack compose")
        with console.status("starting services…"):
            statuses = st.up(parse_assignments(set_ or []) if set_ else None)
    except (ToggleError, RuntimeError, ValueError) as exc:
        _fail(exc)
    _print_status(st, statuses)
    if check:
        _compose_check(st)


def _compose_check(st) -> None:
    """Print the live first-start checks as a table; exit 1 when one failed."""
    with console.status("checking the running stack…"):
        checks = compose_checks(st, st.settings.url)
    table = Table(title="compose first-start checks")
    for col in ("check", "result", "detail"):
        table.add_column(col)
    for c in checks:
        table.add_row(c.name, "[green]pass[/]" if c.ok else "[red]FAIL[/]", c.detail)
    console.print(table)
    if not all(c.ok for c in checks):
        err.print("[red]some checks failed[/red]: fix them in the order listed; to report one, attach this table "
                  "and `docker compose -p sentinel-lab logs --tail 100 <service>`", highlight=False)
        raise typer.Exit(1)


@app.command()
def apply(set_: list[str] = typer.Option(..., "--set", help="toggle NAME=VALUE, repeatable"),
          stack: Optional[str] = StackOpt) -> None:
    """Flip toggles on the running stack, restarting only the services they affect."""
    try:
        restarted = _stack(stack).apply(parse_assignments(set_))
    except (ToggleError, RuntimeError, ValueError) as exc:
        _fail(exc)
    console.print(f"restarted: {', '.join(restarted) or 'nothing (no service affected, or stack not running)'}")


@app.command()
def status(stack: Optional[str] = StackOpt, as_json: bool = typer.Option(False, "--json")) -> None:
    """Each service's state: healthy, unhealthy or stopped."""
    st = _stack(stack)
    statuses = st.status()
    if as_json:
        print(json.dumps({"stack": st.kind, "services": [
            {"name": s.name, "state": s.state, "port": s.port, "url": s.url} for s in statuses]}))
    else:
        _print_status(st, statuses)


@app.command()
def down(stack: Optional[str] = StackOpt) -> None:
    """Stop every service; no process and no listening port remain."""
    with console.status("stopping services…"):
        st = _stack(stack)
        orphans = stop_orphans(st.settings.run_dir)  # Locust of a killed study or load run, before its target
        st.down()
    console.print("stack is down" + (f"; stopped {len(orphans)} orphaned Locust process(es)" if orphans else ""))


@app.command()
def report(study: Optional[str] = typer.Argument(None, help="study id (default: the latest study)"),
           workers: int = typer.Option(2, help="notebooks executed at once")) -> None:
    """Render a stored study's report (no load is run) and print the path of its index.html."""
    settings = Settings.from_env()
    started = time.monotonic()
    try:
        path = report_study_dir(study or "", settings.results_dir)
        with console.status(f"rendering the report of {path.name}…"):
            index = render(path, settings.reports_dir, workers=workers)
    except (ReportError, ResultsError) as exc:
        _fail(exc)
    err.print(f"report of {path.name} rendered in {time.monotonic() - started:.1f} s")
    print(index)


def _study_dir(study: Optional[str]):
    results_dir = Settings.from_env().results_dir
    path = results_dir / study if study else latest_study(results_dir)
    if path is None or not (path / "study.json").exists():
        _fail(FileNotFoundError(f"no study {study or ''} in {results_dir}: run `sentinel-lab study` first"))
    return path


def _json_rows(study_dir, table) -> str:
    rows = [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items() if k in COLUMNS}
            for r in table.to_dict("records")]
    extra = summaries(study_dir)  # alert patterns: per rule set scores with intervals
    recovery = remediation_summaries(study_dir)  # remediation patterns: time to recover per arm, by stage
    return json.dumps({"study": study_dir.name, "rows": rows, **({"backtest": extra} if extra else {}),
                       **({"remediation": recovery} if recovery else {})}, default=str)


def _print_comparison(study_dir, table) -> None:
    out = Table(title=f"study {study_dir.name}")
    for col in ("pattern", "claim", "metric", "role", "baseline", "treatment", "change [CI]", "p", "verdict"):
        out.add_column(col)
    num = lambda x: "" if x != x else f"{x:.4g}"  # noqa: E731
    for r in table.to_dict("records"):
        pct = lambda x: format_change(x, r["scale"], r["unit"])  # noqa: E731
        change = f"{pct(r['change'])} [{pct(r['ci_low'])}, {pct(r['ci_high'])}]" if r["change"] == r["change"] else ""
        verdict = f"[{VERDICT_COLOURS.get(r['verdict'], '#ffffff')}]{r['verdict'] or '—'}[/]"
        out.add_row(r["pattern"], r["claim"], r["metric"], r["role"], num(r["baseline"]), num(r["treatment"]), change,
                    num(r["p_value"]), verdict)
    console.print(out)
    for line in method_lines(table):
        console.print(line, highlight=False)
    for r in table.to_dict("records"):
        if r["claim"] or r["verdict"] == "not measured":
            console.print(f"  {r['pattern']} · {r['metric']}: {r['verdict']}: {r['reason']}", highlight=False)


@app.command()
def patterns(as_json: bool = typer.Option(False, "--json")) -> None:
    """The optimisation patterns: id, claim, and what each needs."""
    if as_json:
        print(json.dumps([{"id": p.id, "title": p.title, "claim": p.claim, "requires": list(p.requires),
                           "expectations": {e.metric: p.describe(e.metric) for e in p.expectations}}
                          for p in PATTERNS]))
        return
    out = Table(title="patterns")
    for col in ("id", "claim", "expects", "needs"):
        out.add_column(col)
    for p in PATTERNS:
        out.add_row(p.id, p.claim,
                    "\n".join(f"{e.metric}: {p.describe(e.metric)} ({p.role(e.metric)})" for e in p.expectations),
                    ", ".join(p.requires))
    console.print(out)


@app.command()
def study(pattern_ids: Optional[list[str]] = typer.Argument(None, metavar="[PATTERN]...",
                                                             help="pattern ids (default: every pattern but aa and capacity-api)"),
          repeats: Optional[int] = typer.Option(None, "--repeats", min=1,
                                                help=f"runs per arm (default {DEFAULT_REPEATS}; "
                                                     f"{QUICK_REPEATS} with --quick)"),
          duration: float = typer.Option(DEFAULT_DURATION_S, "--duration", min=1, help="seconds of load per run"),
          quick: bool = typer.Option(False, "--quick",
                                     help=f"{QUICK_REPEATS} repeats of {QUICK_DURATION_S:g} s runs after a "
                                          f"{QUICK_WARMUP_S:g} s warm-up (long patterns fewer): under 20 min for all here (README)"),
          users: Optional[int] = typer.Option(None, "--users", help="override the workload's users"),
          resume: Optional[str] = typer.Option(None, "--resume", help="finish the runs STUDY still lacks"),
          keep_up: bool = typer.Option(False, "--keep-up", help="leave the stack running afterwards"),
          stack: Optional[str] = StackOpt, as_json: bool = typer.Option(False, "--json"),
          rules: Optional[Path] = typer.Option(None, "--rules", exists=True, dir_okay=False,
                                               help="correlated-alerts: backtest this Prometheus rule file "
                                                    "(the treatment) against the single-signal rules"),
          sweep: Optional[str] = typer.Option(None, "--sweep", help="dose-response: the treatment at each value of "
                                              "one toggle, beside the baseline (SENTINEL_CACHE_TTL_S=5,30,120)")) -> None:
    """Run each pattern's arms interleaved and repeated, store every run, print the comparison."""
    settings = Settings.from_env(stack=stack)
    if resume:
        meta = load_study(_study_dir(resume)).meta
        config = StudyConfig(meta.patterns, meta.repeats, meta.duration_s, meta.warmup_s, study_id=resume,
                             keep_up=keep_up, users=users, quick=meta.quick,
                             sweep=Sweep.from_record(meta.sweep) if meta.sweep else None)
    else:
        ids = pattern_ids or [p.id for p in pats.PATTERNS if p.default and (p.quick or not quick)]
        try:
            [pats.get(i) for i in ids]
            if sweep and not pattern_ids:
                raise SweepError("--sweep needs the pattern to sweep: `sentinel-lab study redis-cache --sweep ...`")
            config = study_config(ids, repeats, None if quick else duration, quick=quick, keep_up=keep_up, users=users,
                                  sweep=Sweep.parse(sweep) if sweep else None)
        except (KeyError, SweepError) as exc:
            _fail(exc)
    if rules:
        if config.patterns != ["correlated-alerts"]:
            _fail(ValueError("--rules backtests a rule file in the correlated-alerts study only: "
                             "run `sentinel-lab study correlated-alerts --rules PATH`"))
        try:
            config.rules = str(backtest.install_user_rules(settings, rules))
        except (RuntimeError, ValueError) as exc:
            _fail(exc)
    try:
        outcome = _run_study(config, settings, resume=bool(resume))
    finally:
        if rules and config.rules:
            backtest.remove_user_rules(settings)
    if config.sweep:
        return _print_sweep(outcome.study_dir, as_json)
    table = compare_study(outcome.study_dir)
    print(_json_rows(outcome.study_dir, table)) if as_json else _print_comparison(outcome.study_dir, table)


def _print_sweep(study_dir, as_json: bool) -> None:
    """A sweep study: each metric against the swept value, with intervals, the trend and the claim per value."""
    responses = sweeps.analyse(study_dir)
    if as_json:
        print(json.dumps({"study": study_dir.name, "sweep": [r.as_dict() for r in responses]}, default=str))
        return
    out = Table(title=f"sweep {study_dir.name}")
    for col in ("metric", "value", "runs", "mean [95 % CI]", "change vs baseline [CI]", "verdict"):
        out.add_column(col)
    num = lambda x: "" if x != x else f"{x:.4g}"  # noqa: E731
    for r in responses:
        for v in r.table.itertuples():
            out.add_row(r.metric, str(v.value), str(v.runs), f"{num(v.mean)} [{num(v.low)}, {num(v.high)}]",
                        f"{num(v.change)} [{num(v.ci_low)}, {num(v.ci_high)}]" if v.change == v.change else "",
                        v.verdict or "")
    console.print(out)
    for r in responses:
        console.print(f"  {r.summary()}", highlight=False)


def _run_study(config, settings, resume: bool = False):
    """Run a study with progress on stderr; an interrupt keeps the finished runs and says how to resume."""
    try:
        outcome = Study(config, settings, report=lambda p: err.print(p.line(), highlight=False)).run(resume=resume)
    except (StudyError, RuntimeError, ValueError) as exc:
        _fail(exc)
    if outcome.interrupted:
        err.print(f"interrupted: {len(outcome.completed)} runs kept; finish with "
                  f"`sentinel-lab study --resume {config.study_id}`")
        raise typer.Exit(130)
    return outcome


CAPACITY_QUICK = {"levels": "4,8,16,32", "level_seconds": 4.0, "repeats": 2}


@app.command()
def capacity(set_: Optional[list[str]] = SetOpt,
             compare: Optional[str] = typer.Option(None, "--compare", help="all-on: every pattern off vs on, "
                                                   "interleaved (the design's 2–3× claim)"),
             levels: Optional[str] = typer.Option(None, "--levels", help="users per level (or arrivals/s with "
                                                  "--open-loop), e.g. 4,8,16,32,64"),
             level_seconds: Optional[float] = typer.Option(None, "--level-seconds", min=2, help="seconds per level"),
             open_loop: bool = typer.Option(False, "--open-loop", help="schedule arrivals at each level's rate; "
                                            "latency from the intended start"),
             processes: int = typer.Option(1, "--processes", min=1, help="Locust processes (when one saturates)"),
             repeats: Optional[int] = typer.Option(None, "--repeats", min=1, help="runs per arm (default 3; 2 quick)"),
             quick: bool = typer.Option(False, "--quick", help=f"levels {CAPACITY_QUICK['levels']}, "
                                        f"{CAPACITY_QUICK['level_seconds']:g} s each, 2 runs"),
             slo_p95_ms: float = typer.Option(250.0, "--slo-p95-ms", help="SLO: p95 at most this"),
             slo_errors: float = typer.Option(0.01, "--slo-errors", help="SLO: error rate below this"),
             keep_up: bool = typer.Option(False, "--keep-up", help="leave the stack running afterwards"),
             stack: Optional[str] = StackOpt, as_json: bool = typer.Option(False, "--json")) -> None:
    """Step the API's load to saturation: throughput and latency per level, the maximum sustainable
    throughput at the SLO, a Universal Scalability Law fit; with --compare all-on, both arms."""
    if compare not in (None, "all-on"):
        _fail(ValueError(f"--compare {compare!r}: the comparison is all-on (every pattern off vs on)"))
    pattern = pats.get(compare or "capacity-api")
    slo = cap.Slo(slo_p95_ms, slo_errors)
    try:
        spec = pattern.workload
        plan = cap.CapacityPlan(
            tuple(float(x) for x in (levels or (CAPACITY_QUICK["levels"] if quick else
                                                ",".join(f"{v:g}" for v in spec.levels))).split(",")),
            level_seconds or (CAPACITY_QUICK["level_seconds"] if quick else spec.level_s),
            open_loop=open_loop, slo=slo, processes=processes)
        extra = parse_assignments(set_ or [])
    except (ValueError, ToggleError) as exc:
        _fail(exc)
    config = StudyConfig([pattern.id], repeats or (CAPACITY_QUICK["repeats"] if quick else 3), plan.duration_s,
                         QUICK_WARMUP_S, keep_up=keep_up, arms=("baseline", "treatment") if compare else ("baseline",),
                         toggles=extra, capacity=plan)
    outcome = _run_study(config, Settings.from_env(stack=stack))
    summaries = [cap.summarize(outcome.study_dir, pattern.id, arm, slo) for arm in config.arms]
    rows = compare_study(outcome.study_dir) if compare else None
    if as_json:
        print(json.dumps({"study": config.study_id, "open_loop": open_loop, "toggles": extra,
                          "arms": [s.as_dict() for s in summaries],
                          "comparison": rows.astype(object).where(rows.notna(), None).to_dict("records")
                          if rows is not None else None}, default=str))
        return
    for s in summaries:
        _print_capacity(s, open_loop)
    if rows is not None:
        _print_comparison(outcome.study_dir, rows)


def _print_capacity(s, open_loop: bool) -> None:
    table = Table(title=f"{s.pattern} · {s.arm}: capacity per level ({s.runs} runs; SLO {s.slo.describe()})")
    for col in ("arrivals/s" if open_loop else "users", "throughput [95 % CI]", "p95 ms", "errors",
                "SLO", "generator", "busiest service"):
        table.add_column(col)
    for r in s.table.itertuples():
        table.add_row(f"{r.level:g}", f"{r.throughput_rps:.1f} [{r.throughput_low:.1f}, {r.throughput_high:.1f}]",
                      f"{r.p95_ms:.0f}" + (f" (response {r.p95_response_ms:.0f})" if open_loop else ""),
                      f"{r.error_rate:.1%}", "met" if r.meets_slo else "[red]missed[/]",
                      f"[red]saturated in {r.generator_saturated_runs} runs[/]" if r.generator_saturated_runs else "ok",
                      f"{r.busiest_service} {r.busiest_cpu_percent:.0f} %" if r.busiest_service else "")
    console.print(table)
    m = s.max_sustainable
    console.print(f"maximum sustainable throughput: {m.estimate:.1f} req/s [{m.low:.1f}, {m.high:.1f}] (95 % CI over runs)")
    if s.usl:
        u = s.usl
        console.print(f"USL fit (R² {s.usl_r2:.3f}): γ {u['gamma'].estimate:.2f} [{u['gamma'].low:.2f}, {u['gamma'].high:.2f}], "
                      f"α {u['alpha'].estimate:.4f} [{u['alpha'].low:.4f}, {u['alpha'].high:.4f}], "
                      f"β {u['beta'].estimate:.2e} [{u['beta'].low:.2e}, {u['beta'].high:.2e}]; peak at N = "
                      f"{u['peak_n'].estimate:.1f} [{u['peak_n'].low:.1f}, {u['peak_n'].high:.1f}], "
                      f"{u['peak_throughput'].estimate:.1f} req/s", highlight=False)
    if s.saturated_levels:
        err.print(f"[red]the load generator saturated[/red] at levels {s.saturated_levels}: those levels are left "
                  "out of the fit and the SLO maximum; add --processes", highlight=False)


@app.command()
def compare(study_id: Optional[str] = typer.Argument(None, metavar="STUDY", help="default: the latest study"),
            as_json: bool = typer.Option(False, "--json")) -> None:
    """Baseline vs treatment per pattern and metric: change, 95 % CI, p, verdict."""
    path = _study_dir(study_id)
    table = compare_study(path)
    print(_json_rows(path, table)) if as_json else _print_comparison(path, table)


@app.command()
def calibrate(studies: Optional[list[str]] = typer.Argument(None, metavar="[STUDY]...",
                                                            help="A/A studies to summarise (default: run new ones)"),
              runs: int = typer.Option(10, "--runs", min=1, help="A/A studies to run when none are given"),
              quick: bool = typer.Option(False, "--quick", help="A/A studies at the --quick settings "
                                                                "(default: the plain study defaults)")) -> None:
    """The lab's false-positive rate and noise thresholds: A/A studies (a no-op toggle flipped between the
    arms, restarting the API as a real pattern does), how often one is flagged, and the thresholds stored
    for this machine."""
    if studies:
        dirs = [_study_dir(s) for s in studies]
    else:
        settings = Settings.from_env()
        stack, dirs = open_stack(settings), []
        try:
            with stack_up(stack):
                for i in range(runs):
                    err.print(f"A/A study {i + 1} of {runs}", highlight=False)
                    config = study_config(["aa"], quick=quick, keep_up=True)
                    outcome = Study(config, settings, stack=stack, report=lambda p: err.print(p.line())).run()
                    dirs.append(outcome.study_dir)
                    if outcome.interrupted:
                        break
        except (StudyError, RuntimeError) as exc:
            _fail(exc)
    summary = summarize(dirs)
    out = Table(title=f"A/A calibration over {len(dirs)} studies: false-positive rate "
                      f"{false_positive_rate(summary) * 100:.1f} %")
    for col in summary.columns:
        out.add_column(col)
    for r in summary.to_dict("records"):
        out.add_row(*(f"{v:.3g}" if isinstance(v, float) else str(v) for v in r.values()))
    console.print(out)
    if len(summary):
        path = store(summary, dirs, Settings.from_env().results_dir)
        err.print(f"noise thresholds of this machine stored in {path}; comparisons use them from now on",
                  highlight=False)


def main() -> None:
    app()


@app.command()
def load(target: str = typer.Argument(..., help="api, truthsync, or a locustfile path"),
         users: int = typer.Option(10, "--users", min=1), spawn_rate: float = typer.Option(5.0, "--spawn-rate"),
         duration: str = typer.Option("30s", "--duration", help="30s, 2m, 1h30m"),
         shape: str = typer.Option("constant", "--shape", help="constant, step, spike or schedule"),
         host: Optional[str] = typer.Option(None, "--host", help="default: the stack's Nginx"),
         opt: Optional[list[str]] = typer.Option(None, "--opt", help="locustfile knob NAME=VALUE (write-share=0.2)"),
         as_json: bool = typer.Option(False, "--json")) -> None:
    """Drive Locust load in its own process, print the summary, store the run under results/load/."""
    settings = Settings.from_env()
    try:
        options = dict(o.split("=", 1) for o in opt or [])
        workload = lab_load.Workload(target, host or lab_load.default_host(target, settings), users, spawn_rate,
                                     lab_load.parse_duration(duration), shape, options)
        if not host:  # the lab's own stack: load what the locustfile draws from (idempotent)
            with console.status("seeding the data the workload needs…"):
                seeding.seed(seeding.needs(target), settings, str(options.get("scale", "small")))
        result = lab_load.run(workload)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        _fail(exc)
    path = lab_load.save(result, settings.results_dir)
    summary = result.summary()
    if as_json:
        print(json.dumps(summary))
        return
    table = Table(title=f"load {result.run_id}" + (" (interrupted)" if result.interrupted else ""))
    for col in ("requests", "failures", "rps", "p50 ms", "p95 ms", "p99 ms", "untrusted"):
        table.add_column(col, justify="right")
    table.add_row(*(f"{summary[k]:.4g}" if isinstance(summary[k], float) else str(summary[k])
                    for k in ("requests", "failures", "rps", "p50_ms", "p95_ms", "p99_ms", "untrusted")))
    console.print(table)
    if result.untrusted:
        err.print(f"[yellow]untrusted:[/yellow] {result.untrusted_reason}", highlight=False)
    err.print(f"stored in {path}")


@app.command()
def faults(names: Optional[list[str]] = typer.Argument(None, metavar="[FAULT]...",
                                                       help="redis-stop, worker-kill, postgres-restart, truthsync-kill"),
           users: int = typer.Option(4, "--users", min=1, help="Locust users on the API and on TruthSync each"),
           as_json: bool = typer.Option(False, "--json")) -> None:
    """Break one part of the running local stack at a time under load; print what the users saw."""
    try:
        rows = resilience.run_all(open_stack(Settings.from_env()), names, resilience.Timing(users=users),
                                  report=lambda line: err.print(line, highlight=False))
    except (RuntimeError, ValueError) as exc:
        _fail(exc)
    if as_json:
        print(resilience.table(rows).to_json(orient="records"))
        return
    out = Table(title="faults under load")
    for col in ("fault", "requests", "errors", "error %", "recovery s", "data lost", "writes", "note"):
        out.add_column(col)
    for r in rows:
        out.add_row(r.fault, str(r.requests), str(r.errors), f"{r.error_share * 100:.2f}", f"{r.recovery_s:.2f}",
                    str(r.data_lost), str(r.writes), r.note)
    console.print(out)
    if any(r.data_lost != 0 for r in rows):
        raise typer.Exit(1)
