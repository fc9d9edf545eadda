"""Capacity runs on the real stack: a closed-loop staircase and an open-loop arrival schedule, stored
as a study whose levels, resources and per-run capacity figures a summary reads back."""
from __future__ import annotations

import json
import re
import subprocess
from dataclasses import replace

import pandas as pd
import pytest

from analysis import capacity
from analysis.experiment import Study, StudyConfig
from analysis.load import Workload, locust_command, run
from analysis.load import _environment as load_environment

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def staircase(lab_stack):
    """A one-run capacity study (the study seeds the API's data, which the open-loop test uses too)."""
    plan = capacity.CapacityPlan((2, 4, 8), level_s=3.0)
    config = StudyConfig(["capacity-api"], repeats=1, duration_s=plan.duration_s, warmup_s=2,
                         study_id="it-capacity", arms=("baseline",), capacity=plan)
    outcome = Study(config, lab_stack.settings, stack=lab_stack).run()
    assert not outcome.interrupted
    return outcome


def test_a_closed_loop_staircase_is_stored_level_by_level_with_the_services_it_loaded(staircase):
    summary = capacity.summarize(staircase.study_dir, "capacity-api", "baseline")
    assert list(summary.table["level"]) == [2, 4, 8] and summary.table["throughput_rps"].iloc[-1] > 0
    assert summary.table["busiest_service"].notna().any(), "no per-service CPU was sampled"
    assert summary.runs == 1 and summary.max_sustainable.estimate >= 0


def test_open_loop_requests_carry_their_latency_from_the_intended_start(lab_stack, staircase, tmp_path):
    plan = capacity.CapacityPlan((5, 10, 20), level_s=2.5, open_loop=True, settle_s=0.5, pool=20)
    base = Workload("api", host=lab_stack.settings.url("nginx"), duration_s=1, options={"scale": "small"})
    result = run(plan.workload(base), run_dir=tmp_path / "open", progress=False)
    arrivals = result.requests[result.requests["intended_ms"].notna()]
    assert len(arrivals) > 20
    # queueing before the request started is part of it: never shorter than the response itself
    assert (arrivals["intended_ms"] >= arrivals["response_time_ms"] - 5).all()
    table = capacity.levels(result.requests, result.stages, plan.settle_s)
    assert list(table["level"]) == [5, 10, 20]
    # one request per scheduled arrival: a user that ran its inherited closed-loop tasks would repeat an
    # intended start (the bug this guards: 36 requests in the 5/s level's 2 s, most sharing a start)
    started = arrivals["timestamp"] - pd.to_timedelta(arrivals["intended_ms"], unit="ms")
    assert started.dt.round("us").is_unique, "several requests carry the same intended start"
    # an open-loop generator offers the scheduled rate whatever the server does (Poisson: a wide band)
    offered = [int(((started >= s.start) & (started < s.end)).sum()) for s in result.stages.itertuples()]
    assert offered[0] <= 2.2 * 5 * plan.level_s and offered[-1] > offered[0], offered


@pytest.mark.parametrize("open_loop", [False, True])
def test_the_arrival_rates_choose_the_user_class_and_no_user_idles(lab_stack, tmp_path, open_loop):
    """Locust spawns every class of a file that a run does not name: a closed-loop API run had half its
    users as open-loop ones, idle for want of arrivals (and the open-loop run closed-loop ones)."""
    base = Workload("api", host=lab_stack.settings.url("nginx"), users=4, spawn_rate=4, duration_s=2,
                    options={"scale": "small"})
    if open_loop:
        base = capacity.CapacityPlan((5, 10, 20), level_s=1.0, open_loop=True, settle_s=0.2, pool=4).workload(base)
        base = replace(base, user_classes=())  # not named: the rates alone must choose
    cmd = [("INFO" if part == "WARNING" else part) for part in locust_command(base, tmp_path / "locust")]
    subprocess.run(cmd, env=load_environment(tmp_path), cwd=tmp_path, timeout=120, capture_output=True)
    spawned = re.search(r"All users spawned: (\{.*?\})", (tmp_path / "locust.log").read_text())
    assert spawned, (tmp_path / "locust.log").read_text()[-2000:]
    counts = {name: n for name, n in json.loads(spawned.group(1)).items() if n}
    assert counts == ({"OpenLoopApiUser": 4} if open_loop else {"ApiUser": 4}), counts
