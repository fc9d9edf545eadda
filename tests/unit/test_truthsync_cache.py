"""L1 (LRU + TTL with a dict fast path) and the verdict rules, with an injected clock."""
import pytest

from truthsync.local_cache import TOUCH_EVERY, LocalCache
from truthsync.verdict import CONTRADICTED, SUPPORTED, UNKNOWN, Candidate, Fact, Verdict, judge


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_an_entry_expires_after_its_ttl_and_leaves_the_fast_path():
    clock = Clock()
    l1 = LocalCache(10, ttl_s=5, clock=clock)
    l1.put("claim", "verdict")
    assert l1.get("claim", clock()) == "verdict"
    clock.t += 4.9
    assert l1.get("claim", clock()) == "verdict"
    clock.t += 0.2
    assert l1.get("claim", clock()) is None
    l1.put("other", "v")  # a write purges expired entries from both structures
    assert len(l1) == 1


def test_the_least_recently_used_entry_is_evicted_and_hot_keys_stay():
    clock = Clock()
    l1 = LocalCache(3, ttl_s=60, clock=clock)
    for k in "abc":
        l1.put(k, k.upper())
    for _ in range(TOUCH_EVERY):  # "a" is hot: its LRU place is refreshed by sampled hits
        assert l1.get("a", clock()) == "A"
    l1.put("d", "D")
    assert l1.get("b", clock()) is None
    assert [l1.get(k, clock()) for k in "acd"] == ["A", "C", "D"]
    assert len(l1) == 3


def test_bad_sizes_are_refused_with_the_variable_to_fix():
    with pytest.raises(ValueError, match="TRUTHSYNC_L1_SIZE"):
        LocalCache(0, 10)


def _candidate(template, numbers, similarity=1.0, trust=0.9):
    return Candidate(Fact(7, "The population of Arvenia is 4,200,000.", "World Bank"), template, numbers, trust,
                     similarity)


def test_equal_numbers_support_and_different_numbers_contradict():
    t = "the population of arvenia is #"
    assert judge("the population of arvenia is 4200000", (4200000.0,), _candidate(t, (4200000.0,))).verdict == SUPPORTED
    v = judge("the population of arvenia is 5000000", (5000000.0,), _candidate(t, (4200000.0,)))
    assert (v.verdict, v.confidence, v.fact.id) == (CONTRADICTED, 0.9, 7)


def test_a_negated_claim_contradicts_the_fact_it_quotes():
    t = "paris is the capital of france"
    assert judge("paris is not the capital of france", (), _candidate(t, (), 0.85)).verdict == CONTRADICTED


def test_a_weak_or_missing_candidate_leaves_the_claim_unverified():
    assert judge("x is 3", (3.0,), None) is UNKNOWN
    assert judge("x is 3", (3.0,), _candidate("y is #", (3.0,), similarity=0.5)) is UNKNOWN


@pytest.mark.parametrize("verdict", [UNKNOWN, Verdict(SUPPORTED, 0.855, Fact(1, "S é \"q\"", "Eurostat"))])
def test_verdicts_round_trip_through_the_compact_l2_form(verdict):
    raw = verdict.encode()
    assert Verdict.decode(raw) == verdict
    assert len(raw) < 80
