"""Verdict rules (pure) and the compact form verdicts take in L2."""
import pytest

from truthsync.verdict import CONTRADICTED, SUPPORTED, UNKNOWN, Candidate, Fact, Verdict, judge


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


def test_a_similar_sentence_about_another_entity_is_not_evidence():
    near = _candidate("the population of arvonia is #", (4200000.0,), similarity=0.88)
    assert judge("the population of arvenia is 4200000", (4200000.0,), near) is UNKNOWN
