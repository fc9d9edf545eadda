"""A small real sweep on the session's stack: the query cache's TTL at two values, stored as a study
whose runs carry the value they ran with and whose analysis reads one row per value."""
from __future__ import annotations

import pytest

from analysis import results, sweep
from analysis.experiment import Study, StudyConfig
from analysis.sweep import Sweep

pytestmark = pytest.mark.integration


def test_a_ttl_sweep_runs_the_cache_at_each_value_and_restores_the_stack(lab_stack):
    s = Sweep.parse("SENTINEL_CACHE_TTL_S=2,300", reference=False)
    config = StudyConfig(["redis-cache"], repeats=1, duration_s=4, warmup_s=2, users=10, study_id="it-sweep",
                         sweep=s)
    outcome = Study(config, lab_stack.settings, stack=lab_stack).run()
    assert not outcome.interrupted
    runs = {m.run_id: m for m in results.load_study(outcome.study_dir).runs if not m.warmup}
    assert {m.arm for m in runs.values()} == set(s.arms)
    assert {m.toggles["SENTINEL_CACHE_TTL_S"] for m in runs.values()} == {"2", "300"}
    assert all(m.toggles["SENTINEL_CACHE"] == "on" for m in runs.values())
    responses = {r.metric: r for r in sweep.analyse(outcome.study_dir)}
    hits = responses["api_cache_hit_ratio"]
    assert hits.not_measured is None, hits.not_measured
    assert list(hits.table["value"]) == ["2", "300"] and list(hits.table["runs"]) == [1, 1]
    # the cache was on at both values: the API looked entries up (measured, so checks > 0, which the
    # baseline, off, never has) and at 300 s found some; at 2 s, 10 users in 4 s may find none
    means = hits.table.set_index("value")["mean"]
    assert means.between(0, 1).all() and means["300"] > 0, hits.table
    assert lab_stack.toggles().get("SENTINEL_CACHE_TTL_S", "30") == "30", "the sweep restored the toggles"
