"""The patterns are data that the rest of the lab can trust."""
from __future__ import annotations

import pytest

from analysis import patterns
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
    aa = patterns.get("aa")
    assert aa.baseline == aa.treatment
    assert {e.kind for e in aa.expectations} == {"none"}


def test_an_unknown_pattern_lists_the_known_ones():
    with pytest.raises(KeyError, match="redis-cache"):
        patterns.get("nope")


def test_a_pattern_whose_services_are_absent_is_not_measured():
    assert patterns.missing_services(patterns.get("truthsync-l2"), {"postgres", "redis", "nginx"}) == [
        "truthsync-1", "truthsync-2", "prometheus"]
