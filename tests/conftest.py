"""Shared fixtures: real Postgres and Redis, started once per test session.

Fixture names are the contract (``pg_dsn``, ``redis_url``, ``lab_settings``);
how the services are started may change underneath.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from ports import free_port, wait_port
from stack_fixtures import lab_stack, make_stack, real_study  # noqa: F401  (one session stack for every tree)

from analysis.stack.provision import PG_BIN


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture(scope="session")
def _service_dir():
    d = Path(tempfile.mkdtemp(prefix="lab-test-"))
    os.chmod(d, 0o777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_dsn(_service_dir) -> str:
    """A throwaway Postgres 15 with pg_stat_statements and pg_trgm; DSN of db ``sentinel``."""
    data = _service_dir / "pg"
    port = free_port()
    subprocess.run(_as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres",
                                 "--auth=trust", "-E", "UTF8", "--locale=C"]),
                   check=True, capture_output=True)
    with open(data / "postgresql.conf", "a") as conf:
        conf.write(f"port = {port}\nlisten_addresses = '127.0.0.1'\n"
                   f"unix_socket_directories = '{data}'\n"
                   "shared_preload_libraries = 'pg_stat_statements'\ntrack_io_timing = on\n"
                   "fsync = off\nsynchronous_commit = off\n")
    subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-l",
                                 str(data / "server.log"), "start"]), check=True, capture_output=True)
    try:
        wait_port(port)
        subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-q", "-c",
                        "CREATE ROLE sentinel LOGIN SUPERUSER PASSWORD 'sentinel'",
                        "-c", "CREATE DATABASE sentinel OWNER sentinel"], check=True, capture_output=True)
        subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", "sentinel",
                        "-q", "-c", "CREATE EXTENSION IF NOT EXISTS pg_stat_statements",
                        "-c", "CREATE EXTENSION IF NOT EXISTS pg_trgm"], check=True, capture_output=True)
        yield f"postgresql://sentinel:sentinel@127.0.0.1:{port}/sentinel"
    finally:
        subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate",
                                     "stop"]), capture_output=True)


#: the test Redis servers require a password, like the lab's: a client that forgets it fails here too
TEST_REDIS_PASSWORD = "test-redis-password"


def _redis_server(port: int, workdir: Path) -> subprocess.Popen:
    # the password goes in on stdin (a config read from "-"), never on a command line ps shows
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(workdir), "-"],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    proc.stdin.write(f"requirepass {TEST_REDIS_PASSWORD}\n".encode())
    proc.stdin.close()
    return proc


@pytest.fixture(scope="session")
def redis_url(_service_dir) -> str:
    """A throwaway Redis on a free loopback port, with a password (in the URL)."""
    port = free_port()
    proc = _redis_server(port, _service_dir)
    try:
        wait_port(port)
        yield f"redis://:{TEST_REDIS_PASSWORD}@127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


class RedisServer:
    """A private redis-server a test may stop and start again (same port)."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://:{TEST_REDIS_PASSWORD}@127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        self.proc = _redis_server(self.port, self.workdir)
        wait_port(self.port)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def private_redis(tmp_path):
    """A Redis of this test's own, for tests that stop it mid-way."""
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def anyio_backend():
    """Async tests run on asyncio (mark them ``pytest.mark.anyio``; anyio's plugin ships with anyio)."""
    return "asyncio"
