"""supervisord for the local stack, against a real supervisord: config syntax, owner-only file,
start, a program started and read back, shutdown leaving nothing running."""
from __future__ import annotations

import os
import stat
import sys
import tempfile
import time
from pathlib import Path

import pytest

from analysis.stack.supervisor import Program, Supervisor, _alive, _env_line


def test_env_values_are_quoted_for_supervisord():
    line = _env_line({"B": 'say "hi"', "A": "100%", "C": "back\\slash"})
    assert line == 'A="100%%",B="say \\"hi\\"",C="back\\\\slash"'  # sorted, % doubled, quotes escaped


@pytest.fixture
def run_dir():
    path = Path(tempfile.mkdtemp(prefix="sv-", dir="/tmp"))  # short: a unix socket path is at most ~100 bytes
    (path / "logs").mkdir()
    yield path
    Supervisor(path).shutdown(timeout=20)


def test_a_program_starts_with_its_environment_and_shutdown_stops_everything(run_dir):
    out = run_dir / "logs" / "echo.out"
    script = "import os, time; print(os.environ['GREETING'], flush=True); time.sleep(60)"
    sv = Supervisor(run_dir)
    sv.write_config([Program("echo", f'{sys.executable} -c "{script}"', {"GREETING": "50% ready"}, str(run_dir),
                             str(out))])
    assert stat.S_IMODE(os.stat(sv.conf).st_mode) == 0o600  # it holds the stack's secrets
    assert not sv.running() and sv.info() == {}
    sv.start()
    assert sv.running() and sv.info()["echo"]["statename"] == "STOPPED"  # autostart=false: the stack orders starts
    sv.rpc.startProcess("echo", True)
    pid = sv.info()["echo"]["pid"]
    deadline = time.monotonic() + 10
    while "50% ready" not in (out.read_text() if out.exists() else "") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "50% ready" in out.read_text()
    assert sv.reload() == ([], [], [])  # nothing changed in the config
    supervisord = sv.pid()
    sv.shutdown(timeout=20)
    assert not _alive(pid) and not _alive(supervisord) and not sv.running()


def test_a_too_long_run_directory_is_refused_with_what_to_do(tmp_path):
    deep = tmp_path / ("d" * 120)
    deep.mkdir()
    with pytest.raises(RuntimeError, match="set LAB_RUN_DIR to a shorter path"):
        Supervisor(deep).start()
