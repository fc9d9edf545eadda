"""TruthSync instances as subprocesses on free loopback ports, for the benchmark and the tests."""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path

from stack.launch import Launched, free_port, start, stop, wait_healthy
from stack.replicas import replica_name


@contextmanager
def running(n: int, database_url: str, redis_url: str, log_dir: Path, timeout_s: float = 30.0, **toggles: str):
    """Start ``truthsync-1`` … ``truthsync-n`` with ``toggles`` (TRUTHSYNC_* env); stop them all on exit."""
    started: list[Launched] = []
    try:
        for i in range(1, n + 1):
            port, name = free_port(), replica_name("truthsync", i)
            env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "DATABASE_URL": database_url,
                   "REDIS_URL": redis_url, "SERVICE_NAME": name, "LOG_FILE": str(log_dir / f"{name}.log"), **toggles}
            started.append(start(name, [sys.executable, "-m", "truthsync"], env, port))
        for inst in started:
            wait_healthy(inst, timeout_s=timeout_s)
        yield started
    finally:
        for inst in started:
            stop(inst.process, 10)
