"""A study killed with SIGKILL leaves its stack and its Locust running; `sentinel-lab down` then
leaves no process and no listening port."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from analysis.load import REPO
from analysis.stack.health import port_in_use

pytestmark = pytest.mark.integration
SERVICES = ["postgres", "redis", "api", "nginx"]
STUDY = """
from analysis.experiment import Study, StudyConfig
from analysis.settings import Settings
from analysis.stack.local import LocalStack

settings = Settings.from_env()
stack = LocalStack(settings, only={services!r})
Study(StudyConfig(["redis-cache"], repeats=1, duration_s=60, warmup_s=60, users=2, study_id="killed"),
      settings, stack=stack).run()
"""


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_down_after_a_sigkilled_study_leaves_no_process_and_no_listening_port(make_stack):
    stack = make_stack(SERVICES)  # not started: the study starts it; taken down after the test whatever happens
    s = stack.settings
    env = {**os.environ, "LAB_RUN_DIR": str(s.run_dir), "LAB_RESULTS_DIR": str(s.results_dir),
           "LAB_PORT_BASE": str(s.port_base)}
    study = subprocess.Popen([sys.executable, "-c", STUDY.format(services=SERVICES)], cwd=REPO, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300  # stack start and seeding on a loaded machine; not a measured figure
    while not list(s.run_dir.glob("load/**/locust.pid")) and study.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    pidfiles = list(s.run_dir.glob("load/**/locust.pid"))
    assert pidfiles, f"the study never started Locust (exit code {study.poll()})"
    locust = int(pidfiles[0].read_text())
    pids = [stack.supervisor.pid(), locust] + [p["pid"] for p in stack.supervisor.info().values() if p["pid"]]
    study.send_signal(signal.SIGKILL)
    study.wait()
    assert _alive(locust) and stack.supervisor.running(), "a SIGKILLed study leaves its stack and Locust behind"
    ports = [s.port(n) for n in SERVICES] + [s.port("nginx-status")]

    out = subprocess.run([sys.executable, "-m", "analysis", "down"], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    assert "orphaned Locust" in out.stdout
    assert [p for p in pids if _alive(p)] == []
    assert [p for p in ports if port_in_use(s.host, p)] == []
