"""The notebooks that drive the lab run top to bottom under papermill against the session's real
stack, each showing its figures; a study started from a kernel survives the stop button."""
from __future__ import annotations

import os
import time
from pathlib import Path

import jupyter_client
import nbformat
import papermill as pm
import psutil
import pytest

from analysis import report, results
from analysis.stack import toggles

# the first test also stands the session stack up and runs a study: slow on a loaded machine
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
STUDY = "nb-run-study"


def lab_env(settings) -> dict[str, str]:
    """The environment that points a kernel at ``settings``' stack and directories."""
    return {"LAB_PORT_BASE": str(settings.port_base), "LAB_RUN_DIR": str(settings.run_dir),
            "LAB_RESULTS_DIR": str(settings.results_dir), "LAB_REPORTS_DIR": str(settings.reports_dir),
            "LAB_TRUTHSYNC_INSTANCES": str(settings.truthsync_instances)}


def execute(notebook: str, out: Path, settings, **parameters) -> nbformat.NotebookNode:
    """Run ``notebooks/<notebook>.ipynb`` under papermill with the kernel pointed at the stack."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in lab_env(settings).items():
            mp.setenv(key, value)
        pm.execute_notebook(str(report.NOTEBOOKS / f"{notebook}.ipynb"), str(out), parameters=parameters,
                            kernel_name=report.KERNEL, cwd=str(report.NOTEBOOKS), progress_bar=False,
                            execution_timeout=900)
    return nbformat.read(out, as_version=4)


def outputs(nb, kind: str) -> list:
    """Every output of the notebook's code cells that carries ``kind`` (e.g. ``image/png``)."""
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if kind in o.get("data", {})]


def errors(nb) -> list:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o["output_type"] == "error"]


def locust_processes(marker: str) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if "locust" in cmd and marker in cmd:
            found.append(p)
    return found


@pytest.fixture(scope="session")
def run_study_notebook(lab_stack, tmp_path_factory):
    """01_run_study executed once: a short real redis-cache study on the session's stack, and its report."""
    out = tmp_path_factory.mktemp("nb") / "01_run_study.ipynb"
    nb = execute("01_run_study", out, lab_stack.settings, patterns=["redis-cache"], quick=False, repeats=2,
                 duration=3.0, warmup=2.0, users=5, study_id=STUDY)
    return nb, lab_stack.settings.results_dir / STUDY


def test_run_study_notebook_stores_the_study_shows_verdicts_and_figures_and_renders_the_report(
        run_study_notebook, lab_stack):
    nb, study_dir = run_study_notebook
    assert not errors(nb)
    measured = [r for r in results.load_study(study_dir).runs if not r.warmup]
    assert sorted(r.arm for r in measured) == ["baseline"] * 2 + ["treatment"] * 2
    html = "".join(o["data"]["text/html"] for o in outputs(nb, "text/html")).replace("<wbr>", "")
    assert '<table class="verdicts"' in html and "pg_statements_per_request" in html
    assert len(outputs(nb, "image/png")) >= 1, "no headline figure"
    assert (lab_stack.settings.reports_dir / STUDY / "index.html").stat().st_size > 0
    assert lab_stack.is_up(), "a stack that was already up must stay up"


def test_explore_notebook_shows_every_source_of_a_stored_run(run_study_notebook, lab_stack, tmp_path):
    _, study_dir = run_study_notebook
    nb = execute("03_explore", tmp_path / "03.ipynb", lab_stack.settings, study=study_dir.name,
                 results_dir=str(study_dir.parent))
    assert not errors(nb)
    text = "".join(str(o.get("data", {}).get("text/markdown", "")) for o in outputs(nb, "text/markdown"))
    assert "redis-cache-r0-" in text and "warm-up" not in text.split("\n")[0]
    # latency CDF, timeline, Prometheus panels, Redis commands
    assert len(outputs(nb, "image/png")) >= 4
    tables = "".join(o["data"]["text/html"] for o in outputs(nb, "text/html"))
    assert "total_exec_time_ms" in tables, "no Postgres statement table"


def test_load_test_notebook_puts_locust_beside_prometheus_with_postgres_redis_and_logs(lab_stack, tmp_path):
    before = set(p.name for p in (lab_stack.settings.results_dir / "load").glob("*")) \
        if (lab_stack.settings.results_dir / "load").exists() else set()
    nb = execute("02_load_test", tmp_path / "02.ipynb", lab_stack.settings, users=5, duration="5s")
    assert not errors(nb)
    stored = set(p.name for p in (lab_stack.settings.results_dir / "load").glob("*")) - before
    assert len(stored) == 1, "the run is not stored under results/load/"
    assert len(outputs(nb, "image/png")) >= 2  # Locust beside Prometheus, Redis commands
    tables = "".join(o["data"]["text/html"] for o in outputs(nb, "text/html"))
    assert "SELECT" in tables and "mean_exec_time_ms" in tables
    assert "lab_monitor" not in tables and "pg_database" not in tables, "the lab's own queries counted"
    assert "error lines" in "".join(str(o["data"]["text/markdown"]) for o in outputs(nb, "text/markdown"))


def test_the_stop_button_keeps_finished_runs_restores_toggles_and_leaves_no_locust(lab_stack):
    settings, study = lab_stack.settings, "nb-interrupted"
    toggles_before = dict(lab_stack.toggles())
    km = jupyter_client.KernelManager(kernel_name=report.KERNEL)
    km.start_kernel(env={**os.environ, **lab_env(settings)}, cwd=str(report.NOTEBOOKS))
    client = km.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        msg_id = client.execute("from analysis import lab\n"
                                f"r = lab.study(['redis-cache'], repeats=3, duration=3, warmup=1, users=5, "
                                f"keep_up=True, study_id={study!r})")
        first = settings.results_dir / study / "redis-cache-r0-baseline" / "meta.json"
        deadline = time.monotonic() + 400  # seeding and a warm-up first; slow on a loaded machine
        while not first.exists():
            assert time.monotonic() < deadline, "the first run never finished"
            time.sleep(0.5)
        time.sleep(2)  # into the next run's load
        km.interrupt_kernel()
        reply = client.get_shell_msg(timeout=120)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = client.get_shell_msg(timeout=120)
        assert reply["content"]["status"] == "ok", reply["content"]
        printed = _Collector()
        check = client.execute_interactive("print(r.interrupted, len(r.completed), len(r.comparison))", timeout=60,
                                           output_hook=printed)
        assert check["content"]["status"] == "ok"
    finally:
        client.stop_channels()
        km.shutdown_kernel(now=True)
    interrupted, completed, _ = printed.text.split()
    runs = results.load_study(settings.results_dir / study).runs
    assert interrupted == "True" and int(completed) == len(runs) >= 2  # the warm-up and at least one run
    assert len(runs) < 1 + 2 * 3, "the study was not interrupted"
    assert not list((settings.results_dir / study).glob(".*.tmp")), "half a run left behind"
    assert not locust_processes(study), "a Locust process outlived the interrupt"
    assert {**toggles.defaults(), **lab_stack.toggles()} == {**toggles.defaults(), **toggles_before}
    assert lab_stack.is_up()


class _Collector:
    """Collects a kernel's stdout."""

    def __init__(self):
        self.text = ""

    def __call__(self, msg):
        if msg["msg_type"] == "stream":
            self.text += msg["content"]["text"]
