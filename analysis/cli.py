"""The ``sentinel-lab`` command: up, down, status, apply, load, study, compare, report, patterns."""
from __future__ import annotations

import json
import sys
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

QUICK_REPEATS, QUICK_DURATION_S, QUICK_WARMUP_S = 4, 8.0, 4.0
StackOpt = typer.Option(None, "--stack", help="local (default, processes on loopback) or compose (Docker)")
SetOpt = typer.Option(None, "--set", help="toggle NAME=VALUE, repeatable (e.g. SENTINEL_CACHE=on)")


def _stack(stack: Optional[str]):
    from analysis.settings import Settings
    from analysis.stack import open_stack

    return open_stack(Settings.from_env(stack=stack))


def _fail(exc: Exception) -> None:
    err.print(f"[red]error:[/red] {exc}", highlight=False)
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
def up(stack: Optional[str] = StackOpt, set_: Optional[list[str]] = SetOpt) -> None:
    """Stand the stack up and wait until every service is healthy."""
    from analysis.stack.toggles import ToggleError, parse_assignments

    try:
        st = _stack(stack)
        with console.status("starting services…"):
            statuses = st.up(parse_assignments(set_ or []) if set_ else None)
    except (ToggleError, RuntimeError, ValueError) as exc:
        _fail(exc)
    _print_status(st, statuses)


@app.command()
def apply(set_: list[str] = typer.Option(..., "--set", help="toggle NAME=VALUE, repeatable"),
          stack: Optional[str] = StackOpt) -> None:
    """Flip toggles on the running stack, restarting only the services they affect."""
    from analysis.stack.toggles import ToggleError, parse_assignments

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
        _stack(stack).down()
    console.print("stack is down")


@app.command()
def report(study: Optional[str] = typer.Argument(None, help="study id (default: the latest study)"),
           workers: int = typer.Option(2, help="notebooks executed at once")) -> None:
    """Render a stored study's report (no load is run) and print the path of its index.html."""
    import time

    from analysis.report import ReportError, render, study_dir
    from analysis.results import ResultsError
    from analysis.settings import Settings

    settings = Settings.from_env()
    started = time.monotonic()
    try:
        path = study_dir(study or "", settings.results_dir)
        with console.status(f"rendering the report of {path.name}…"):
            index = render(path, settings.reports_dir, workers=workers)
    except (ReportError, ResultsError) as exc:
        _fail(exc)
    err.print(f"report of {path.name} rendered in {time.monotonic() - started:.1f} s")
    print(index)


def _study_dir(study: Optional[str]):
    from analysis.results import latest_study
    from analysis.settings import Settings

    results_dir = Settings.from_env().results_dir
    path = results_dir / study if study else latest_study(results_dir)
    if path is None or not (path / "study.json").exists():
        _fail(FileNotFoundError(f"no study {study or ''} in {results_dir}: run `sentinel-lab study` first"))
    return path


def _json_rows(study_dir, table) -> str:
    keys = ["pattern", "metric", "claim", "baseline", "treatment", "change", "ci_low", "ci_high", "p_value",
            "significant", "verdict", "reason", "direction", "unit"]
    rows = [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items() if k in keys}
            for r in table.to_dict("records")]
    from analysis.backtest import summaries  # alert patterns: per rule set scores with intervals

    extra = summaries(study_dir)
    return json.dumps({"study": study_dir.name, "rows": rows, **({"backtest": extra} if extra else {})}, default=str)


def _print_comparison(study_dir, table) -> None:
    out = Table(title=f"study {study_dir.name}")
    for col in ("pattern", "claim", "metric", "baseline", "treatment", "change [95 % CI]", "p", "verdict"):
        out.add_column(col)
    colour = {"holds": "green", "refuted": "red", "inconclusive": "yellow", "not measured": "dim"}
    num = lambda x: "" if x != x else f"{x:.4g}"  # noqa: E731
    pct = lambda x: "" if x != x else f"{x * 100:+.1f} %"  # noqa: E731
    for r in table.to_dict("records"):
        change = f"{pct(r['change'])} [{pct(r['ci_low'])}, {pct(r['ci_high'])}]" if r["change"] == r["change"] else ""
        verdict = f"[{colour.get(r['verdict'], 'white')}]{r['verdict'] or '—'}[/]"
        out.add_row(r["pattern"], r["claim"], r["metric"], num(r["baseline"]), num(r["treatment"]), change,
                    num(r["p_value"]), verdict)
    console.print(out)
    for r in table.to_dict("records"):
        if r["claim"]:
            console.print(f"  {r['pattern']} · {r['metric']}: {r['verdict']}: {r['reason']}", highlight=False)


@app.command()
def patterns(as_json: bool = typer.Option(False, "--json")) -> None:
    """The optimisation patterns: id, claim, and what each needs."""
    from analysis.patterns import PATTERNS

    if as_json:
        print(json.dumps([{"id": p.id, "title": p.title, "claim": p.claim, "requires": list(p.requires),
                           "expectations": {e.metric: e.describe() for e in p.expectations}} for p in PATTERNS]))
        return
    out = Table(title="patterns")
    for col in ("id", "claim", "expects", "needs"):
        out.add_column(col)
    for p in PATTERNS:
        out.add_row(p.id, p.claim, "\n".join(f"{e.metric}: {e.describe()}" for e in p.expectations),
                    ", ".join(p.requires))
    console.print(out)


@app.command()
def study(pattern_ids: Optional[list[str]] = typer.Argument(None, metavar="[PATTERN]...",
                                                             help="pattern ids (default: all but aa)"),
          repeats: Optional[int] = typer.Option(None, "--repeats", min=1,
                                                help="runs per arm (default 3; 4 with --quick)"),
          duration: float = typer.Option(60.0, "--duration", min=1, help="seconds of load per run"),
          quick: bool = typer.Option(False, "--quick",
                                     help="4 repeats of 8 s runs after a 4 s warm-up: every pattern in ~15 min"),
          users: Optional[int] = typer.Option(None, "--users", help="override the workload's users"),
          resume: Optional[str] = typer.Option(None, "--resume", help="finish the runs STUDY still lacks"),
          keep_up: bool = typer.Option(False, "--keep-up", help="leave the stack running afterwards"),
          stack: Optional[str] = StackOpt, as_json: bool = typer.Option(False, "--json"),
          rules: Optional[Path] = typer.Option(None, "--rules", exists=True, dir_okay=False,
                                               help="correlated-alerts: backtest this Prometheus rule file "
                                                    "(the treatment) against the single-signal rules")) -> None:
    """Run each pattern's arms interleaved and repeated, store every run, print the comparison."""
    from analysis import patterns as pats
    from analysis.experiment import Study, StudyConfig, StudyError
    from analysis.results import load_study
    from analysis.settings import Settings
    from analysis.stats import compare_study

    settings = Settings.from_env(stack=stack)
    if resume:
        meta = load_study(_study_dir(resume)).meta
        config = StudyConfig(meta["patterns"], meta["repeats"], meta["duration_s"],
                             meta.get("warmup_s", 15.0), study_id=resume, keep_up=keep_up, users=users)
    else:
        ids = pattern_ids or [p.id for p in pats.PATTERNS if p.id != "aa"]
        try:
            [pats.get(i) for i in ids]
        except KeyError as exc:
            _fail(exc)
        # 4 repeats, not 3: with 3 runs per arm Mann-Whitney cannot reach p < 0.05 (smallest p is 0.1)
        config = StudyConfig(ids, repeats or (QUICK_REPEATS if quick else 3), QUICK_DURATION_S if quick else duration,
                             QUICK_WARMUP_S if quick else 15.0, keep_up=keep_up, users=users)
    report = (lambda p: err.print(p.line(), highlight=False))
    try:
        if rules:
            from analysis import backtest

            if config.patterns != ["correlated-alerts"]:
                raise ValueError("--rules backtests a rule file in the correlated-alerts study only: "
                                 "run `sentinel-lab study correlated-alerts --rules PATH`")
            config.rules = str(backtest.install_user_rules(settings, rules))
        try:
            outcome = Study(config, settings, report=report).run(resume=bool(resume))
        finally:
            if rules and config.rules:
                backtest.remove_user_rules(settings)
    except (StudyError, RuntimeError, ValueError) as exc:
        _fail(exc)
    if outcome.interrupted:
        err.print(f"interrupted: {len(outcome.completed)} runs kept; finish with "
                  f"`sentinel-lab study --resume {config.study_id}`")
        raise typer.Exit(130)
    table = compare_study(outcome.study_dir)
    print(_json_rows(outcome.study_dir, table)) if as_json else _print_comparison(outcome.study_dir, table)


@app.command()
def compare(study_id: Optional[str] = typer.Argument(None, metavar="STUDY", help="default: the latest study"),
            as_json: bool = typer.Option(False, "--json")) -> None:
    """Baseline vs treatment per pattern and metric: change, 95 % CI, p, verdict."""
    from analysis.stats import compare_study

    path = _study_dir(study_id)
    table = compare_study(path)
    print(_json_rows(path, table)) if as_json else _print_comparison(path, table)


@app.command()
def calibrate(studies: Optional[list[str]] = typer.Argument(None, metavar="[STUDY]...",
                                                            help="A/A studies to summarise (default: run new ones)"),
              runs: int = typer.Option(10, "--runs", min=1, help="A/A studies to run when none are given")) -> None:
    """The lab's false-positive rate: A/A studies (same arm twice) and how often one is flagged significant."""
    from analysis.calibration import false_positive_rate, summarize
    from analysis.experiment import Study, StudyConfig, StudyError
    from analysis.settings import Settings
    from analysis.stack import open_stack

    if studies:
        dirs = [_study_dir(s) for s in studies]
    else:
        settings = Settings.from_env()
        stack, dirs = open_stack(settings), []
        started_here = not stack.is_up()
        try:
            for i in range(runs):
                err.print(f"A/A study {i + 1} of {runs}", highlight=False)
                config = StudyConfig(["aa"], QUICK_REPEATS, QUICK_DURATION_S, QUICK_WARMUP_S, keep_up=True)
                outcome = Study(config, settings, stack=stack, report=lambda p: err.print(p.line())).run()
                dirs.append(outcome.study_dir)
                if outcome.interrupted:
                    break
        except (StudyError, RuntimeError) as exc:
            _fail(exc)
        finally:
            if started_here:
                stack.down()
    summary = summarize(dirs)
    out = Table(title=f"A/A calibration over {len(dirs)} studies: false-positive rate "
                      f"{false_positive_rate(summary) * 100:.1f} %")
    for col in summary.columns:
        out.add_column(col)
    for r in summary.to_dict("records"):
        out.add_row(*(f"{v:.3g}" if isinstance(v, float) else str(v) for v in r.values()))
    console.print(out)


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
    from analysis import load as lab_load
    from analysis.settings import Settings

    settings = Settings.from_env()
    try:
        options = dict(o.split("=", 1) for o in opt or [])
        workload = lab_load.Workload(target, host or lab_load.default_host(target, settings), users, spawn_rate,
                                     lab_load.parse_duration(duration), shape, options)
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
