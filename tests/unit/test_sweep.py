"""Dose-response sweeps: values checked against the toggle's spec, arms rotated, and the analysis of a
synthetic study whose dose-response is known (the claim holds from TTL 30 on; a flat one has no trend)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from synthetic_sweep import make_sweep_study
from test_experiment import FakeStack, fake_run

from analysis import patterns, results, sweep
from analysis.experiment import Study, StudyConfig, schedule
from analysis.settings import Settings
from analysis.sweep import Sweep, SweepError


def test_a_sweep_takes_only_values_the_toggle_declares():
    s = Sweep.parse("SENTINEL_CACHE_TTL_S=5, 30,120")
    assert s.values == ("5", "30", "120") and s.arms[0] == "baseline" and s.arms[1] == "SENTINEL_CACHE_TTL_S=5"
    for bad in ("SENTINEL_CACHE_TTL_S=0,30", "SENTINEL_CACHE_TTL_S=5,abc", "SENTINEL_CACHE_TTL_S=5",
                "SENTINEL_CACHE_TTL_S=5,5", "NO_SUCH_TOGGLE=1,2", "SENTINEL_CACHE_TTL_S", "SENTINEL_CACHE=on,maybe"):
        with pytest.raises(SweepError):
            Sweep.parse(bad)


def test_a_sweep_runs_the_treatment_at_each_value_and_the_baseline_as_it_is():
    s, cache = Sweep.parse("SENTINEL_CACHE_TTL_S=5,120"), patterns.get("redis-cache")
    assert s.toggles(cache, "baseline") == {"SENTINEL_CACHE": "off"}
    assert s.toggles(cache, "SENTINEL_CACHE_TTL_S=120") == {"SENTINEL_CACHE": "on", "SENTINEL_CACHE_TTL_S": "120"}
    with pytest.raises(SweepError):
        StudyConfig(["correlated-alerts"], sweep=s)  # fault timelines are not a dose


def test_sweep_arms_rotate_so_every_value_takes_every_position():
    arms = Sweep.parse("SENTINEL_CACHE_TTL_S=5,30,120").arms
    steps = schedule(["redis-cache"], 4, arms=arms)
    assert steps[0].warmup
    rounds = [[s.arm for s in steps[1:] if s.repeat == r] for r in range(4)]
    assert all(sorted(r) == sorted(arms) for r in rounds)
    for position in range(len(arms)):
        assert {r[position] for r in rounds} == set(arms), "a Latin square: each arm once in each position"
    assert rounds[0] != rounds[1]


def test_the_analysis_finds_the_planted_dose_response_and_where_the_claim_starts_to_hold(tmp_path):
    responses = {r.metric: r for r in sweep.analyse(make_sweep_study(tmp_path))}
    pg = responses["pg_statements_per_request"]
    assert pg.holds_from == "30", pg.table[["value", "change", "ci_low", "ci_high", "verdict"]]
    verdicts = dict(zip(pg.table["value"], pg.table["verdict"]))
    assert verdicts["5"] == "refuted" and verdicts["30"] == verdicts["120"] == "holds"
    assert pg.trend.rho < 0 and pg.trend.p_value < 0.05 and pg.trend.slope_high < 0
    assert "holds from 30 on" in pg.summary()
    hit = responses["api_cache_hit_ratio"]
    assert hit.not_measured is None, "the baseline's cache is off: no lookups there blank only the baseline"
    means = hit.table.set_index("value")["mean"]
    assert means["5"] < means["30"] < means["120"] and hit.trend.rho > 0 and hit.trend.slope_low > 0
    row = hit.table.set_index("value").loc["30"]
    assert row["runs"] == 4 and row["low"] < row["mean"] < row["high"]
    assert responses["stale_reads"].table.set_index("value").loc["120", "verdict"] == "holds"


def test_a_flat_response_shows_no_trend_and_the_claim_holds_nowhere(tmp_path):
    responses = {r.metric: r for r in sweep.analyse(make_sweep_study(tmp_path, flat=True))}
    pg = responses["pg_statements_per_request"]
    assert pg.holds_from is None and "holds at no swept value" in pg.summary()
    assert not pg.trend.p_value < 0.05 and pg.trend.slope_low < 0 < pg.trend.slope_high


def test_holds_from_needs_every_larger_value_to_hold():
    assert sweep.holds_from([1, 2, 4], ["holds", "inconclusive", "holds"]) == 4
    assert sweep.holds_from([4, 1, 2], ["holds", "holds", "holds"]) == 1
    assert sweep.holds_from([1, 2], ["holds", "refuted"]) is None


def test_a_trend_over_too_few_runs_is_not_a_trend():
    t = sweep.trend([1, 2], [3.0, 4.0])
    assert math.isnan(t.rho) and t.direction == "no monotone trend"
    t = sweep.trend(np.repeat([1, 2, 4], 3), np.repeat([1.0, 2.0, 3.0], 3) + np.tile([-0.1, 0, 0.1], 3))
    assert t.rho > 0.9 and t.slope_low > 0


def test_a_sweep_study_applies_each_value_records_the_sweep_and_resumes_from_its_record(tmp_path):
    s = Sweep.parse("SENTINEL_CACHE_TTL_S=5,120")
    settings = Settings(results_dir=tmp_path, run_dir=tmp_path / "run")
    stack = FakeStack(up=True)
    config = StudyConfig(["redis-cache"], repeats=2, study_id="s", seed=False, sweep=s)
    Study(config, settings, stack=stack, run_one=fake_run()).run()
    applied = [c[1] for c in stack.calls if isinstance(c, tuple) and c[0] == "apply"]
    ttl_on = {(a["SENTINEL_CACHE"], a["SENTINEL_CACHE_TTL_S"]) for a in applied[:-1]}
    assert ttl_on == {("off", "30"), ("on", "5"), ("on", "120")}, "baseline as it is; the treatment at each value"
    stored = results.load_study(tmp_path / "s")
    assert Sweep.from_record(stored.meta.sweep) == s
    assert {m.arm for m in stored.runs if not m.warmup} == set(s.arms)
    assert {m.toggles.get("SENTINEL_CACHE_TTL_S") for m in stored.runs if m.arm != "baseline"} == {"5", "120"}
    # resume, as `sentinel-lab study --resume` rebuilds the config from study.json: nothing left to run
    (tmp_path / "s" / "redis-cache-r1-SENTINEL_CACHE_TTL_S=5").rename(tmp_path / "s" / ".gone")
    again = StudyConfig(["redis-cache"], repeats=2, study_id="s", seed=False,
                        sweep=Sweep.from_record(stored.meta.sweep))
    Study(again, settings, stack=FakeStack(up=True), run_one=fake_run()).run(resume=True)
    assert len([m for m in results.load_study(tmp_path / "s").runs if not m.warmup]) == 2 * len(s.arms)


def test_a_latency_claim_on_too_few_requests_is_never_judged(tmp_path):
    few = {r.metric: r for r in sweep.analyse(make_sweep_study(tmp_path, requests_per_run=5))}
    p99 = few["dashboard_p99_ms"].table
    assert set(p99.loc[p99["value"] != "baseline", "verdict"]) == {"inconclusive"}
    assert p99["reason"].str.contains("requests per arm").any()
