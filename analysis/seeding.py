"""The data a workload needs, loaded before it runs: the API's tenants and users, TruthSync's
dataset and fact store. Used by ``study`` (once per study) and ``load`` (before each run);
the seeders are idempotent, so seeding what is already there costs one query.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from analysis.settings import REPO, Settings

#: what each locustfile in loadtests/ needs seeded; a locustfile of the user's own needs nothing
NEEDS = {"api": ("api",), "truthsync": ("truthsync",)}


class SeedError(RuntimeError):
    """A seeder failed; the message holds its own words and the command to run by hand."""


def needs(locustfile: str) -> tuple[str, ...]:
    """What ``locustfile`` (a name in loadtests/ or a path) needs seeded."""
    path = Path(locustfile)
    ours = path.suffix != ".py" or path.resolve().parent == REPO / "loadtests"
    return NEEDS.get(path.stem, ()) if ours else ()


def commands(scale: str = "small") -> dict[str, list[str]]:
    return {"api": [sys.executable, "-m", "stack.api.seed", "--scale", scale],
            "truthsync": [sys.executable, "-m", "truthsync.dataset", "--load"]}  # the DSN from $DATABASE_URL


def seed(names: set[str] | tuple[str, ...], settings: Settings, scale: str = "small") -> None:
    """Seed ``names`` ("api", "truthsync") into the stack of ``settings``; raise SeedError if one fails."""
    cmds = commands(scale)
    env = {**os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url}
    for name in sorted(names):
        done = subprocess.run(cmds[name], cwd=REPO, env=env, capture_output=True, text=True)
        if done.returncode:
            said = (done.stderr.strip().splitlines() or ["no output"])[-1][-300:]
            raise SeedError(f"seeding {name} failed ({cmds[name][2]}: {said}); is the stack up? "
                            "run `sentinel-lab up` and try again")
