"""The ``sentinel-lab`` command: up, down, status, apply, load, study, compare, report, patterns."""
from __future__ import annotations

import json
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Sentinel Lab: did this optimisation really help, by how much, at what cost?",
                  no_args_is_help=True, add_completion=False)
console = Console()
err = Console(stderr=True)

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


def main() -> None:
    app()
