"""``make bench``: every benchmark, against a private Postgres and Redis the lab stands up for it.

Benchmarks print their figures; they are not pass/fail. Each runs in its own
process so one benchmark's warm caches never flatter another's.
"""
from __future__ import annotations

import os
import subprocess
import sys

from rich.console import Console

from analysis.settings import REPO, Settings
from analysis.stack.local import LocalStack

#: name → argv after ``python -m``; every benchmark gets DATABASE_URL and REDIS_URL in its environment
#: (never on its command line, where ``ps`` shows them).
#: Order matters: the API's benchmark seeds the medium data set the worker's reads.
BENCHMARKS = {
    "api": ["stack.api.bench"],
    "truthsync": ["truthsync.bench", "--instances", "1,2,4"],
    "worker": ["stack.worker.bench", "--tasks", "300", "--rounds", "2"],
    "audit": ["analysis.audit_bench"],  # the leak detector on the 1 M-line benign corpus (no services used)
}


def main(names: list[str]) -> int:
    console = Console()
    settings = Settings.from_env(run_dir=REPO / ".lab" / "bench", port_base=27000)
    stack = LocalStack(settings, only=["postgres", "redis"])
    failed = []
    try:
        with console.status("starting Postgres and Redis for the benchmarks…"):
            stack.up()
        for name in names or list(BENCHMARKS):
            console.rule(f"benchmark: {name}")
            cmd = [sys.executable, "-m", *BENCHMARKS[name]]
            env = {**os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url}
            if subprocess.run(cmd, cwd=REPO, env=env).returncode != 0:
                failed.append(name)
    finally:
        stack.down()
    if failed:
        console.print(f"[red]benchmarks that did not finish:[/red] {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
