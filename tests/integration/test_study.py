"""A short real redis-cache study on the local stack returns a verdict with an interval."""
from __future__ import annotations

import math

import pytest

from analysis import results, stats
from analysis.experiment import Study, StudyConfig
from analysis.stack import catalogue

pytestmark = pytest.mark.integration

NEEDED = {"api", "nginx", "postgres", "redis"}


@pytest.fixture
def api_stack(lab_stack):
    missing = NEEDED - {s.name for s in catalogue.local_services(lab_stack.settings)}
    if missing:
        pytest.skip(f"the local stack does not run {sorted(missing)} yet (catalogue: enabled=False)")
    return lab_stack


def test_a_short_redis_cache_study_returns_a_verdict_with_an_interval(api_stack):
    config = StudyConfig(["redis-cache"], repeats=4, duration_s=8, warmup_s=3, users=10, study_id="it-cache")
    outcome = Study(config, api_stack.settings, stack=api_stack).run()
    assert not outcome.interrupted and len(outcome.completed) == 9
    table = stats.compare_study(results.latest_study(api_stack.settings.results_dir)).set_index("metric")
    pg = table.loc["pg_statements_per_request"]
    assert pg["verdict"] in {"holds", "refuted", "inconclusive"} and pg["reason"]
    assert math.isfinite(pg["ci_low"]) and pg["ci_low"] <= pg["change"] <= pg["ci_high"]
    p50 = table.loc["dashboard_p50_ms"]
    assert math.isfinite(p50["ci_low"]) and math.isfinite(p50["ci_high"])
    assert api_stack.toggles().get("SENTINEL_CACHE", "off") == "off", "the study restored the stack's toggles"
