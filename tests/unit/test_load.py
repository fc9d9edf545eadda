"""The load runner's pure parts: load profiles, popularity, Locust's files → frames, saturation."""
from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

from analysis.collect.locust import read_failures, read_history, read_requests, read_stats
from analysis.load import (LOADTESTS, LoadResult, SaturationRule, Workload, judge_saturation, locust_command,
                           parse_duration)


def _module(name: str):
    """Load a loadtests/ module by path: putting loadtests/ on sys.path would hide the truthsync package."""
    spec = importlib.util.spec_from_file_location(f"loadtests_{name}", LOADTESTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


stages = _module("stages")
popularity = _module("popularity")

STATS = """Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%
GET,/a,90,3,4,4.5,1.2,30.1,120.0,9.0,0.3,4,5,5,6,8,10,20,25,30,30,30
,Aggregated,90,3,4,4.5,1.2,30.1,120.0,9.0,0.3,4,5,5,6,8,10,20,25,30,30,30
"""
HISTORY = """Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%,Total Request Count,Total Failure Count,Total Median Response Time,Total Average Response Time,Total Min Response Time,Total Max Response Time,Total Average Content Size
1767261600,0,,Aggregated,0.000000,0.000000,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,0,0,0,0.0,0,0,0
1767261601,5,GET,/a,10.0,0.0,4,5,5,6,8,10,20,25,30,30,30,10,0,4,4.5,1.2,30.1,120
1767261601,5,,Aggregated,10.0,0.0,4,5,5,6,8,10,20,25,30,30,30,10,0,4,4.5,1.2,30.1,120
"""
FAILURES = """Method,Name,Error,Occurrences
GET,/a,LocustBadStatusCode(code=500),3
"""


def test_stats_become_snake_case_columns_with_percentiles_in_ms(tmp_path):
    (tmp_path / "s.csv").write_text(STATS)
    df = read_stats(tmp_path / "s.csv")
    assert {"type", "name", "requests", "failures", "rps", "p50_ms", "p95_ms", "p99_ms", "p99.9_ms",
            "mean_ms", "max_ms"} <= set(df.columns)
    agg = df[df["name"] == "Aggregated"].iloc[0]
    assert (agg["requests"], agg["failures"], agg["p95_ms"], agg["type"]) == (90, 3, 10, "")


def test_history_has_utc_seconds_and_nan_before_the_first_request(tmp_path):
    (tmp_path / "h.csv").write_text(HISTORY)
    df = read_history(tmp_path / "h.csv")
    assert list(df.columns[:4]) == ["timestamp", "users", "type", "name"]
    assert df["timestamp"].iloc[0] == datetime(2026, 1, 1, 10, tzinfo=timezone.utc)
    assert pd.isna(df["p95_ms"].iloc[0]) and df["total_requests"].iloc[-1] == 10


def test_failures_and_missing_files_give_frames_not_errors(tmp_path):
    (tmp_path / "f.csv").write_text(FAILURES)
    assert read_failures(tmp_path / "f.csv").to_dict("records") == [
        {"method": "GET", "name": "/a", "error": "LocustBadStatusCode(code=500)", "occurrences": 3}]
    assert list(read_failures(tmp_path / "none.csv").columns) == ["method", "name", "error", "occurrences"]
    assert read_requests(tmp_path / "none.csv").empty and read_stats(tmp_path / "none.csv").empty


def test_summary_pools_the_per_request_log():
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    req = pd.DataFrame({"timestamp": [t0 + timedelta(seconds=i / 10) for i in range(101)],
                        "type": "GET", "name": "/a", "response_time_ms": [float(i) for i in range(101)],
                        "success": [i % 10 != 0 for i in range(101)]})
    empty = pd.DataFrame()
    result = LoadResult("r1", Workload("api", "http://x"), t0, t0 + timedelta(seconds=30), empty, empty, empty, req,
                        empty, empty, False, "", False, 0, Path("."))
    s = result.summary()
    assert (s["requests"], s["failures"], s["rps"], s["p50_ms"], s["p99_ms"]) == (101, 11, 10.1, 50.0, 99.0)


def test_the_command_runs_headless_with_full_history_and_passes_knobs():
    w = Workload("api", "http://127.0.0.1:1", users=7, spawn_rate=2, duration_s=12, shape="step",
                 options={"write-share": 0.25, "step-users": 3})
    cmd = locust_command(w, Path("/tmp/x/locust"))
    assert cmd[cmd.index("-f") + 1] == str(LOADTESTS / "api.py")
    assert {"--headless", "--csv-full-history"} <= set(cmd)
    assert cmd[cmd.index("-t") + 1] == "12s" and cmd[cmd.index("-u") + 1] == "7"
    assert cmd[cmd.index("--shape") + 1] == "step" and cmd[cmd.index("--write-share") + 1] == "0.25"


def _cpu(values):
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    return pd.DataFrame({"timestamp": [t0 + timedelta(seconds=i) for i in range(len(values))],
                         "cpu_percent": values})


def test_a_generator_near_one_core_or_warned_by_locust_is_untrusted():
    rule = SaturationRule(cpu_percent=85, min_share=0.3)
    assert judge_saturation(_cpu([50, 20, 30, 25, 40]), "", rule) == (False, "")
    untrusted, why = judge_saturation(_cpu([50, 99, 97, 30, 98]), "", rule)
    assert untrusted and "of a core" in why
    assert judge_saturation(_cpu([50, 20]), "WARNING CPU usage above 90%! This may ...", rule)[0]
    assert not judge_saturation(_cpu([100]), "", rule)[0]  # one sample is not evidence


def test_step_profile_climbs_then_holds_until_the_end():
    profile = stages.build("step", users=25, spawn_rate=5, duration_s=100, step_users=10, step_s=20)
    assert [(s.users, s.duration_s) for s in profile] == [(10, 20), (20, 20), (25, 60)]
    assert stages.at(profile, 0) == (10, 5) and stages.at(profile, 45) == (25, 5) and stages.at(profile, 100) is None


def test_spike_and_schedule_profiles_carry_their_fault_windows():
    spike = stages.build("spike", users=10, spawn_rate=2, duration_s=60, spike_users=50, spike_at_s=20, spike_s=10)
    assert stages.at(spike, 25) == (50, 50.0) and stages.at(spike, 35) == (10, 50.0)
    plan = stages.build("schedule", 1, 1, 0, schedule='[{"duration_s": 30, "users": 5, "spawn_rate": 5},'
                        '{"duration_s": 20, "users": 5, "spawn_rate": 5, "fault": "redis-down"}]')
    w = stages.windows(plan)
    assert [(x["start_s"], x["end_s"], x["fault"]) for x in w] == [(0, 30, None), (30, 50, "redis-down")]
    with pytest.raises(ValueError, match="JSON list"):
        stages.schedule("[{}]")
    with pytest.raises(ValueError, match="unknown shape"):
        stages.build("sine", 1, 1, 1)


def test_zipf_makes_the_first_ranks_the_most_popular():
    z = popularity.Zipf(50, 1.1, __import__("random").Random(7))
    counts = Counter(z.rank() for _ in range(20_000))
    p_first = 1 / sum(1 / k ** 1.1 for k in range(1, 51))  # P(rank 0) = 1 / H(50, 1.1)
    assert counts[0] > counts[1] > counts[9] and counts[0] / 20_000 == pytest.approx(p_first, abs=0.015)
    uniform = Counter(popularity.Zipf(4, 0.0, __import__("random").Random(1)).rank() for _ in range(8_000))
    assert max(uniform.values()) / min(uniform.values()) < 1.15


def test_durations_read_like_locusts():
    assert [parse_duration(t) for t in ("30s", "2m", "1h30m", "45", "1m30s")] == [30, 120, 5400, 45, 90]
    with pytest.raises(ValueError, match="like 30s"):
        parse_duration("soon")
