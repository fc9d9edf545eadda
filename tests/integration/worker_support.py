"""Running the worker and beat as the stack does, for the integration tests of the worker."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

from stack.launch import start, stop

ROOT = Path(__file__).resolve().parents[2]


def wait_for(check, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} not met after {timeout}s")


def _env(dsn: str, redis: str, log_file: Path, **extra) -> dict[str, str]:
    return {**os.environ, "HOST": "127.0.0.1", "DATABASE_URL": dsn, "REDIS_URL": redis,
            "LOG_FILE": str(log_file), "PYTHONUNBUFFERED": "1", **extra}


@contextmanager
def running(module: str, env: dict[str, str], log_path: Path):
    """Start ``python -m module`` in its own process group (as supervisord does); SIGTERM the group after."""
    svc = start(module, [sys.executable, "-m", module], env, int(env.get("PORT") or 0), log_path, cwd=ROOT)
    try:
        yield svc.process
    finally:
        stop(svc.process)


def wait_healthy(base: str, proc: subprocess.Popen, output: Path) -> None:
    def healthy():
        assert proc.poll() is None, f"worker exited: {output.read_text()[-3000:]}"
        try:
            return httpx.get(f"{base}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False
    wait_for(healthy, 40, "worker /health 200")


