"""`sentinel-lab load` prepares what its locustfile needs, and a Locust that exits early is reported
in its own words, never stored as a measurement."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from analysis.load import REPO, LoadError, Workload, run
from analysis.seeding import needs

pytestmark = pytest.mark.integration

GIVES_UP = """
raise SystemExit("no claims file here: run `make claims` first")
"""


def _cli(args: list[str], env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analysis", "load", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **env})


def test_a_locust_that_exits_early_is_reported_in_its_own_words_and_not_stored(tmp_path):
    lf = tmp_path / "gives_up.py"
    lf.write_text(GIVES_UP)
    out = _cli([str(lf), "--host", "http://127.0.0.1:9", "--duration", "20s", "--json"],
               {"LAB_RESULTS_DIR": str(tmp_path / "results"), "LAB_RUN_DIR": str(tmp_path / "run")})
    assert out.returncode == 1 and out.stdout == ""
    assert "no claims file here: run `make claims` first" in out.stderr
    assert "Traceback" not in out.stderr and "KeyError" not in out.stderr
    assert not (tmp_path / "results").exists(), "a run that measured nothing was stored"


def test_the_runner_raises_a_load_error_and_keeps_locusts_output(tmp_path):
    lf = tmp_path / "gives_up.py"
    lf.write_text(GIVES_UP)
    with pytest.raises(LoadError, match="exited with code 1") as caught:
        run(Workload(str(lf), "http://127.0.0.1:9", users=1, duration_s=20), run_dir=tmp_path / "run", progress=False)
    assert "make claims" in str(caught.value) and (tmp_path / "run" / "locust.out").exists()


def test_load_against_no_stack_fails_at_once_with_one_line_saying_what_to_run(tmp_path):
    out = _cli(["api", "--duration", "5s"], {"LAB_RUN_DIR": str(tmp_path / "run"), "LAB_PORT_BASE": "9000",
                                           "LAB_RESULTS_DIR": str(tmp_path / "results")})
    errors = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode == 1 and len(errors) == 1, out.stderr
    assert "seeding api failed" in errors[0] and "sentinel-lab up" in errors[0]
    assert not (tmp_path / "run" / "load").exists(), "Locust never started"


def test_each_workload_names_the_data_it_needs():
    assert needs("api") == ("api",) and needs("truthsync") == ("truthsync",)
    assert needs(str(REPO / "loadtests" / "truthsync.py")) == ("truthsync",)
    assert needs("/somewhere/else/truthsync.py") == ()


def test_load_truthsync_on_the_stack_seeds_its_data_and_measures(lab_stack, tmp_path):
    s = lab_stack.settings
    out = _cli(["truthsync", "--users", "5", "--duration", "5s", "--json"],
               {"LAB_RUN_DIR": str(s.run_dir), "LAB_PORT_BASE": str(s.port_base),
                "LAB_RESULTS_DIR": str(tmp_path / "results")})
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["requests"] > 0 and summary["failures"] == 0, summary
