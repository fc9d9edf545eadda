"""Studies: interleaved order, warm-up, resume after a kill, the stack restored on the way out."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from analysis import experiment, patterns, results
from analysis.experiment import Step, Study, StudyConfig
from analysis.settings import Settings
from analysis.stack.base import ServiceStatus
from analysis.stack import toggles


class FakeStack:
    """Records what a study asks of the stack; every service is healthy once up."""

    def __init__(self, up=False):
        self.running, self.calls, self.current = up, [], {}

    def is_up(self):
        return self.running

    def up(self):
        self.calls.append("up")
        self.running = True

    def down(self):
        self.calls.append("down")
        self.running = False

    def apply(self, values):
        self.calls.append(("apply", dict(values)))
        self.current = dict(values)
        return []

    def toggles(self):
        return dict(self.current)

    def status(self):
        return [ServiceStatus(n, "healthy", None, None) for n in ("postgres", "redis", "api", "nginx")]


def fake_run(delay=0.0):
    def run_one(study, step):
        time.sleep(delay)
        now = datetime.now(timezone.utc)
        rng = np.random.default_rng(abs(hash(step.run_id)) % 2**32)
        derived = pd.DataFrame({"metric": ["requests", "pg_statements"], "value": [100.0, rng.normal(500, 5)],
                                "unit": ""})
        return study.new_meta(step, now, now, {"users": 1}), {"derived": derived}
    return run_one


def _study(tmp_path, stack, patterns=("redis-cache",), repeats=3, delay=0.0):
    settings = Settings(results_dir=tmp_path)
    config = StudyConfig(list(patterns), repeats=repeats, study_id="s", seed=False)
    return Study(config, settings, stack=stack, run_one=fake_run(delay))


def test_arms_are_interleaved_abba_after_one_warm_up():
    steps = experiment.schedule(["redis-cache"], 3)
    assert steps[0] == Step("redis-cache", "baseline", 0, warmup=True)
    assert [s.arm for s in steps[1:]] == ["baseline", "treatment", "treatment", "baseline", "baseline", "treatment"]
    arms = [s.arm for s in experiment.schedule(["aa"], 10, warmup=False)]
    assert all(len(set(arms[i:i + 3])) == 2 for i in range(len(arms) - 2)), "never three of one arm in a row"


def test_a_study_stores_every_run_applies_each_arm_and_takes_the_stack_it_started_down(tmp_path):
    stack = FakeStack(up=False)
    outcome = _study(tmp_path, stack).run()
    assert not outcome.interrupted and len(outcome.completed) == 7
    runs = results.runs(tmp_path / "s")
    assert runs["warmup"].sum() == 1 and set(runs["arm"]) == {"baseline", "treatment"}
    applied = [c[1]["SENTINEL_CACHE"] for c in stack.calls if isinstance(c, tuple)]
    assert applied == ["off", "on", "off", "on"]  # a run whose arm is already on the stack applies nothing
    assert stack.calls[0] == "up" and stack.calls[-1] == "down"
    assert all(c[1] == {**toggles.defaults(), **c[1]} for c in stack.calls if isinstance(c, tuple))


def test_a_running_stack_is_left_up_with_its_toggles_restored(tmp_path):
    stack = FakeStack(up=True)
    stack.current = {"SENTINEL_CACHE": "on"}
    _study(tmp_path, stack).run()
    assert "down" not in stack.calls and stack.current["SENTINEL_CACHE"] == "on"


def test_absent_services_make_a_pattern_not_measured_with_the_reason(tmp_path):
    study = _study(tmp_path, FakeStack(up=True), patterns=("redis-cache", "truthsync-l2"), repeats=1)
    study.run()
    meta = results.load_study(tmp_path / "s").meta
    assert "truthsync-1" in meta.not_measured["truthsync-l2"]
    assert set(results.runs(tmp_path / "s")["pattern"]) == {"redis-cache"}


SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from test_experiment import FakeStack, _study
from pathlib import Path
_study(Path({tmp!r}), FakeStack(up=True), repeats=4, delay=1.0).run(resume=True)
"""


def test_a_study_killed_mid_run_keeps_only_complete_runs_and_resumes(tmp_path):
    script = textwrap.dedent(SCRIPT.format(tests=os.path.dirname(__file__), tmp=str(tmp_path)))
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=os.path.dirname(os.path.dirname(os.path.dirname(
        __file__))))
    study_dir = tmp_path / "s"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not (study_dir / "study.json").exists()
                                           or len(results.runs(study_dir)) < 3):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (study_dir / ".aa-r9-baseline.tmp").mkdir()  # what a kill during a save would leave behind
    kept = results.runs(study_dir)
    assert 3 <= len(kept) < 9
    for run_id in kept["run_id"]:
        assert (study_dir / run_id / "derived.parquet").exists()
    outcome = _study(tmp_path, FakeStack(up=True), repeats=4).run(resume=True)
    final = results.runs(study_dir)
    assert len(final) == 9 and final["run_id"].is_unique and set(kept["run_id"]) <= set(final["run_id"])
    assert not list(study_dir.glob(".*.tmp")) and not outcome.interrupted


def test_sigterm_stops_a_study_cleanly_and_it_can_be_resumed(tmp_path):
    stack = FakeStack(up=False)
    study = _study(tmp_path, stack, repeats=2)

    def run_one(s, step, inner=fake_run()):
        if step.run_id == "redis-cache-r0-treatment":
            os.kill(os.getpid(), signal.SIGTERM)
        return inner(s, step)
    study.run_one = run_one
    outcome = study.run()
    assert outcome.interrupted and stack.calls[-1] == "down"
    assert list(results.runs(tmp_path / "s")["run_id"]) == ["redis-cache-warmup-baseline", "redis-cache-r0-baseline"]
    assert len(_study(tmp_path, FakeStack(up=True), repeats=2).run(resume=True).completed) == 5


def test_derived_metrics_turn_counts_into_rates_per_request():
    t = pd.Timestamp("2025-01-01", tz="UTC")
    req = pd.DataFrame({"timestamp": [t, t + pd.Timedelta(seconds=10)], "name": "x",
                        "response_time_ms": [10.0, 30.0], "success": [True, False]})
    pg = pd.DataFrame({"timestamp": t, "metric": ["calls", "calls", "rows"], "value": [6.0, 1.0, 9.0],
                       "query": ["SELECT 1", "SELECT * FROM pg_stat_statements", "SELECT 1"]})
    derived = experiment.derive({"requests": req, "postgres": pg}, 10.0).set_index("metric")["value"]
    assert derived["pg_statements"] == 6 and derived["pg_statements_per_request"] == 3
    assert derived["error_rate"] == 0.5 and derived["throughput_rps"] == 0.2


def test_a_study_id_keeps_whole_pattern_ids_and_counts_the_rest():
    ids = ["redis-cache", "redis-ratelimit", "redis-sessions", "redis-pubsub", "truthsync-l2", "celery-metrics"]
    assert experiment.study_name(ids) == "redis-cache-redis-ratelimit-redis-sessions-and-3-more"
    assert experiment.study_name(["aa"]) == "aa"


class KilledStack(FakeStack):
    """A stack whose study dies without a chance to take it down (SIGKILL): down() never happens."""

    def down(self):
        self.calls.append("down (never reached: the process was killed)")


def test_a_study_records_that_it_started_the_stack_and_its_resume_takes_it_down(tmp_path):
    first = _study(tmp_path, KilledStack(up=False), repeats=2)
    first.run_one = lambda s, step: (_ for _ in ()).throw(KeyboardInterrupt) if step.repeat == 1 else fake_run()(s, step)
    assert first.run().interrupted
    assert results.load_study(tmp_path / "s").meta.started_stack is True
    left_up = FakeStack(up=True)  # what the killed study left behind
    outcome = _study(tmp_path, left_up, repeats=2).run(resume=True)
    assert not outcome.interrupted and left_up.calls[-1] == "down" and "up" not in left_up.calls


def test_resuming_a_study_that_found_the_stack_running_leaves_it_running(tmp_path):
    first = _study(tmp_path, FakeStack(up=True), repeats=2)
    first.run_one = lambda s, step: (_ for _ in ()).throw(KeyboardInterrupt) if step.repeat == 1 else fake_run()(s, step)
    assert first.run().interrupted
    assert results.load_study(tmp_path / "s").meta.started_stack is False
    stack = FakeStack(up=True)
    _study(tmp_path, stack, repeats=2).run(resume=True)
    assert "down" not in stack.calls


def test_database_load_is_execution_time_and_blocks_of_the_application_role_per_request():
    t = pd.Timestamp("2025-01-01", tz="UTC")
    req = pd.DataFrame({"timestamp": [t, t + pd.Timedelta(seconds=10)], "name": "x",
                        "response_time_ms": [10.0, 30.0], "success": [True, True]})
    rows = [("sentinel", "SELECT 1", "total_exec_time_ms", 8.0), ("sentinel", "SELECT 1", "shared_blks_hit", 30.0),
            ("sentinel", "SELECT 1", "shared_blks_read", 10.0), ("sentinel", "SELECT 2", "total_exec_time_ms", 2.0),
            # the lab's own reads and another role's statements are not the application's load
            ("sentinel", "SELECT * FROM pg_stat_statements", "total_exec_time_ms", 500.0),
            ("sentinel_probe", "SELECT 1", "total_exec_time_ms", 700.0),
            ("sentinel_probe", "SELECT 1", "shared_blks_hit", 900.0)]
    pg = pd.DataFrame([{"timestamp": t, "user": u, "query": q, "metric": m, "value": v} for u, q, m, v in rows])
    derived = experiment.derive({"requests": req, "postgres": pg}, 10.0).set_index("metric")
    assert derived.loc["pg_exec_ms", "value"] == 10 and derived.loc["pg_exec_ms_per_request", "value"] == 5
    assert derived.loc["pg_blocks", "value"] == 40 and derived.loc["pg_blocks_per_request", "value"] == 20
    assert derived.loc["pg_exec_ms_per_request", "unit"] == "ms/request"


def test_a_quick_study_caps_a_long_pattern_at_its_quick_repeats_and_a_full_one_does_not(monkeypatch):
    long = replace(patterns.get("redis-cache"), id="long-runs", quick_repeats=2)
    monkeypatch.setattr(patterns, "PATTERNS", (*patterns.PATTERNS, long))
    quick = experiment.schedule(["redis-cache", "long-runs"], 4, quick=True)
    assert sum(1 for s in quick if s.pattern == "long-runs" and not s.warmup) == 2 * 2
    assert sum(1 for s in quick if s.pattern == "redis-cache" and not s.warmup) == 4 * 2
    full = experiment.schedule(["long-runs"], 4)
    assert sum(1 for s in full if not s.warmup) == 4 * 2
