"""TruthSync instances as subprocesses on free loopback ports, for the benchmark and the tests."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Instance:
    name: str
    url: str
    process: subprocess.Popen


def _wait_healthy(inst: Instance, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if inst.process.poll() is not None:
            raise RuntimeError(f"{inst.name} exited with {inst.process.returncode}; see its LOG_FILE")
        try:
            if httpx.get(f"{inst.url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{inst.name} not healthy at {inst.url}/health after {timeout_s}s")


@contextmanager
def running(n: int, database_url: str, redis_url: str, log_dir: Path, timeout_s: float = 30.0, **toggles: str):
    """Start ``truthsync-1`` … ``truthsync-n`` with ``toggles`` (TRUTHSYNC_* env); stop them all on exit."""
    started: list[Instance] = []
    try:
        for i in range(1, n + 1):
            port, name = free_port(), f"truthsync-{i}"
            env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "DATABASE_URL": database_url,
                   "REDIS_URL": redis_url, "SERVICE_NAME": name, "LOG_FILE": str(log_dir / f"{name}.log"), **toggles}
            started.append(Instance(name, f"http://127.0.0.1:{port}",
                                    subprocess.Popen([sys.executable, "-m", "truthsync"], env=env,
                                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
        for inst in started:
            _wait_healthy(inst, timeout_s)
        yield started
    finally:
        for inst in started:
            inst.process.terminate()
        for inst in started:
            try:
                inst.process.wait(10)
            except subprocess.TimeoutExpired:
                inst.process.kill()
                inst.process.wait()
