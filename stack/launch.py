"""A launch kit for benchmarks and tests: a free loopback port, a service started as a subprocess in its
own process group, waited on until healthy, and stopped (its whole group) afterwards.

    with launched("api", [sys.executable, "-m", "stack.api"], env, port) as svc:
        httpx.get(f"{svc.url}/health")
"""
from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx

#: free ports are picked here: below Linux's ephemeral range (32768+, where any outgoing connection may
#: take a port we want to listen on) and above the lab's own bases (user 25xxx, benchmarks 27xxx)
PORT_RANGE = (28000, 32767)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now, below the ephemeral range."""
    for port in random.sample(range(*PORT_RANGE), 200):
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port on {host} in {PORT_RANGE[0]}-{PORT_RANGE[1]}: stop what holds them")


def wait_port(port: int, timeout: float = 30.0, host: str = "127.0.0.1") -> None:
    """Until something accepts connections on ``host:port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), 0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout}s")


@dataclass
class Launched:
    name: str
    url: str
    process: subprocess.Popen
    log: Path | None = None


def wait_healthy(svc: Launched, path: str = "/health", timeout_s: float = 30.0) -> None:
    """Until ``GET url+path`` answers 200; RuntimeError naming the service and its log if it exits or times out."""
    where = f"; read {svc.log}" if svc.log else ""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if svc.process.poll() is not None:
            raise RuntimeError(f"{svc.name} exited with {svc.process.returncode} before it was healthy{where}")
        try:
            if httpx.get(f"{svc.url}{path}", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{svc.name} not healthy at {svc.url}{path} after {timeout_s:g}s{where}")


def stop(process: subprocess.Popen, timeout_s: float = 30.0) -> None:
    """SIGTERM the process's group (it was started in its own); SIGKILL it if it lingers."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def start(name: str, argv: list[str], env: dict[str, str], port: int, log: Path | None = None,
          host: str = "127.0.0.1", cwd: str | Path | None = None) -> Launched:
    """Start ``argv`` in its own process group; its output goes to ``log`` (or nowhere)."""
    out = open(log, "ab") if log else subprocess.DEVNULL
    try:
        process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    finally:
        if log:
            out.close()
    return Launched(name, f"http://{host}:{port}", process, log)


@contextmanager
def launched(name: str, argv: list[str], env: dict[str, str], port: int, log: Path | None = None,
             health: str = "/health", timeout_s: float = 30.0, cwd: str | Path | None = None) -> Iterator[Launched]:
    """A service started, healthy, then stopped, whatever happens in the block."""
    svc = start(name, argv, env, port, log, cwd=cwd)
    try:
        wait_healthy(svc, health, timeout_s)
        yield svc
    finally:
        stop(svc.process)
