"""The local stack for the tests that need one (integration/, notebooks/): started once per session on
its own ports and run dir. Registered in tests/conftest.py, so every test tree shares the same stack."""
from __future__ import annotations

import os
import random
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from analysis.settings import LOCAL_PORTS, Settings
from analysis.stack.health import port_in_use
from analysis.stack.local import LocalStack
from stack.replicas import replica_name


def _free_port_base() -> int:
    """A base whose lab ports are all free, so parallel test sessions never collide. Bases stay below
    Linux's ephemeral range (32768+), where any outgoing connection may take a port we want to listen on,
    and off the user's 25xxx and the benchmarks' 27xxx."""
    rng = random.Random(os.getpid())
    for base in rng.sample([b for b in range(10000, 24000, 1000)], 14):
        probe = Settings(port_base=base, truthsync_instances=4)
        ports = [probe.port(name) for name in LOCAL_PORTS]
        ports += [probe.port(replica_name("truthsync", i)) for i in range(1, 5)]
        if not any(port_in_use("127.0.0.1", p) or port_in_use("127.0.0.1", p + 500) for p in ports):
            return base
    raise RuntimeError("no free port range for the test stack; set LAB_TEST_PORT_BASE")


#: the test session's stack lives apart from a user's `make up` (ports 25xxx, .lab/run) and from
#: other test sessions on the same machine.
TEST_PORT_BASE = int(os.environ.get("LAB_TEST_PORT_BASE") or _free_port_base())


def stack_settings(tmp_root, port_base: int = TEST_PORT_BASE, **kw) -> Settings:
    return Settings.from_env(run_dir=tmp_root / "run", results_dir=tmp_root / "results",
                             reports_dir=tmp_root / "reports", port_base=port_base, **kw)


def _traversable_tmp(prefix: str) -> Path:
    """A temp dir the ``postgres`` user can reach (pytest's own tmp dirs are 0700 root's)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(path, 0o755)
    return path


@pytest.fixture
def make_stack():
    """A LocalStack of the test's own on ``port_base`` with only ``services``; taken down after."""
    made = []
    root = _traversable_tmp("lab-it-")

    def make(services: list[str], port_base: int = TEST_PORT_BASE + 500) -> LocalStack:
        stack = LocalStack(stack_settings(root, port_base=port_base), only=services)
        made.append(stack)
        return stack

    yield make
    for stack in made:
        stack.down()
    shutil.rmtree(root, ignore_errors=True)


@contextmanager
def standing(prefix: str, only: list[str] | None = None, **settings_kw) -> Iterator[LocalStack]:
    """A LocalStack of its own (temp run dir, ``settings_kw`` over the test settings), up; down after."""
    root = _traversable_tmp(prefix)
    stack = LocalStack(stack_settings(root, **settings_kw), only=only)
    try:
        stack.up()
        yield stack
    finally:
        stack.down()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def lab_stack():
    """Every service the local stack runs, healthy; taken down at the end of the session."""
    with standing("lab-session-") as stack:
        yield stack


@pytest.fixture(scope="session")
def real_study(lab_stack):
    """A short real redis-cache study on the session's stack: its directory under the stack's results."""
    from analysis.experiment import Study, StudyConfig

    config = StudyConfig(["redis-cache"], repeats=4, duration_s=8, warmup_s=3, users=10, study_id="it-cache")
    outcome = Study(config, lab_stack.settings, stack=lab_stack).run()
    assert not outcome.interrupted, "the session's study was interrupted"
    return outcome


def cli_env(settings: Settings) -> dict[str, str]:
    """The ``LAB_*`` environment that points ``sentinel-lab`` at the stack of ``settings``."""
    return {"LAB_PORT_BASE": str(settings.port_base), "LAB_RUN_DIR": str(settings.run_dir),
            "LAB_RESULTS_DIR": str(settings.results_dir), "LAB_REPORTS_DIR": str(settings.reports_dir),
            "LAB_TRUTHSYNC_INSTANCES": str(settings.truthsync_instances), "LAB_STACK": settings.stack}
