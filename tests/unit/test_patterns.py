"""The patterns are data that the rest of the lab can trust."""
from __future__ import annotations

import pytest

from analysis import deliveries, patterns
from analysis.probes import PROBES
from analysis.stack import toggles

REQUIRED = {"redis-cache", "redis-ratelimit", "redis-sessions", "redis-pubsub", "truthsync-l2",
            "celery-metrics", "aa"}


def test_the_issue_patterns_are_all_there():
    assert REQUIRED <= set(patterns.by_id())


@pytest.mark.parametrize("pattern", patterns.PATTERNS, ids=lambda p: p.id)
def test_each_pattern_is_complete_and_consistent(pattern):
    assert pattern.claim and pattern.title and (pattern.expectations or not pattern.default), \
        "a pattern a plain study runs makes a claim"
    names = {m.name for m in pattern.metrics}
    assert {e.metric for e in pattern.expectations} <= names, "every claim names a measured metric"
    for side in (pattern.baseline, pattern.treatment):
        assert toggles.validate(side) == side, "arms use known toggles with allowed values"
    for m in pattern.metrics:
        assert m.better in {"lower", "higher", "none"} and m.source in {"derived", "latency", "samples"}
        assert m.source == "derived" or m.count is None
        assert m.source != "samples" or m.endpoint, "a samples metric names its sample"
    for e in pattern.expectations:
        if e.kind in {"decrease", "increase"}:
            assert e.low < e.high and (e.high <= 0 if e.kind == "decrease" else e.low >= 0)
        e.describe()


def test_aa_runs_the_same_arm_twice_and_expects_no_change():
    """The arms differ only in a no-op toggle, flipped so the API restarts between them as in a real pattern."""
    aa = patterns.get("aa")
    assert set(aa.baseline) == set(aa.treatment) == {"SENTINEL_AA_ARM"} and aa.baseline != aa.treatment
    assert toggles.TOGGLES["SENTINEL_AA_ARM"].services == toggles.TOGGLES["SENTINEL_CACHE"].services
    assert {e.kind for e in aa.expectations} == {"none"}


@pytest.mark.parametrize("pattern", patterns.PATTERNS, ids=lambda p: p.id)
def test_each_pattern_has_one_primary_claim_and_its_other_claims_are_secondary(pattern):
    primaries = [pattern.role(e.metric) for e in pattern.expectations].count("primary")
    assert primaries == 1 or (primaries == 0 and not pattern.expectations and not pattern.default), \
        "one headline claim (a pattern without claims only runs when named, e.g. capacity-api)"
    assert all(pattern.role(m.name) == "context" for m in pattern.metrics if pattern.expectation(m.name) is None)


PROBE_CHECKS = {"stale-reads": "stale_checks", "ratelimit-burst": "burst_sent", "notify-latency": "notifications_sent",
                "celery-tasks": "tasks_compared", "api-cache-hit-ratio": "api_cache_lookups",
                "truthsync-hit-ratio": "cache_lookups", "pg-audit-trail": "slow_planted"}


@pytest.mark.parametrize("pattern", patterns.PATTERNS, ids=lambda p: p.id)
def test_every_probe_metric_names_its_probe_and_its_check_count(pattern):
    for m in pattern.metrics:
        assert (m.probe is None) == (m.checks is None)
        if m.probe == deliveries.PROBE:  # alert patterns: the receiver a timeline runs, not a load probe
            assert pattern.backtest and m.checks == deliveries.CHECKS
        elif m.probe:
            assert m.probe in PROBES and m.probe in pattern.probes and m.checks == PROBE_CHECKS[m.probe]
    assert {m.probe for m in pattern.metrics if m.probe} - {deliveries.PROBE} == set(pattern.probes)


def test_hit_ratios_and_zero_heavy_counts_are_judged_on_an_absolute_scale():
    assert patterns.get("truthsync-l2").describe("cache_hit_ratio") == "+20 pp…+30 pp"
    assert "percentage points" in patterns.get("truthsync-l2").claim
    assert patterns.get("redis-cache").metric("error_rate").scale == "absolute"


def test_an_unknown_pattern_lists_the_known_ones():
    with pytest.raises(KeyError, match="redis-cache"):
        patterns.get("nope")


def test_a_pattern_whose_services_are_absent_is_not_measured():
    assert patterns.missing_services(patterns.get("truthsync-l2"), {"postgres", "redis", "nginx"}) == [
        "truthsync-1", "truthsync-2", "prometheus"]
