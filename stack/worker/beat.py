"""``python -m stack.worker.beat``: Celery beat, its schedule file in a temp run dir (never the repo).

SENTINEL_BEAT_DIR names the directory to keep the schedule in; without it a
fresh temp dir is used and removed on exit (a fresh schedule just runs each
periodic task once at start).
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from stack.worker.app import celery_app


def main() -> None:
    if not os.environ.get("REDIS_URL"):
        sys.exit("beat: set REDIS_URL (redis://…) before starting beat")
    given = os.environ.get("SENTINEL_BEAT_DIR")
    run_dir = Path(given) if given else Path(tempfile.mkdtemp(prefix="sentinel-beat-"))
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        celery_app.start(["beat", "--loglevel=INFO", f"--schedule={run_dir / 'celerybeat-schedule'}",
                          f"--pidfile={run_dir / 'beat.pid'}"])
    finally:
        if not given:
            shutil.rmtree(run_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
