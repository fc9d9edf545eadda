"""The ``sentinel-lab`` command: up, down, status, apply, load, study, compare, report, patterns."""
from __future__ import annotations

import typer

app = typer.Typer(help="Sentinel Lab: did this optimisation really help, by how much, at what cost?",
                  no_args_is_help=True, add_completion=False)


def main() -> None:
    app()
