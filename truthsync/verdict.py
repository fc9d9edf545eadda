"""From a claim and its best candidate fact to a verdict. Pure: no I/O.

The store ranks candidates by trigram similarity of the templates (numbers
masked); ``MATCH_SIMILARITY`` is that search's floor. Similarity alone is
dominated by the words a template shares with many facts, so a candidate
also has to use the same words as the claim, bar negations and function
words: "the population of Arvenia" is never judged by "the population of
Arvonia". Then numbers decide: equal (within ``NUMBER_TOLERANCE``) supports,
different contradicts; a negation on one side only flips the outcome.
"""
from __future__ import annotations

from dataclasses import dataclass

import orjson

from truthsync.text import template

MATCH_SIMILARITY = 0.8
NUMBER_TOLERANCE = 0.005
NEGATIONS = frozenset({"not", "never", "no"})  # text.normalise turns "isn't" into "is not"
FUNCTION_WORDS = frozenset({"the", "a", "an", "of", "in", "on", "at", "to", "by", "for", "and", "is", "was",
                            "are", "were", "has", "had", "have", "about", "around", "some", "#"})

SUPPORTED, CONTRADICTED, UNVERIFIED = "supported", "contradicted", "unverified"
_CODES = {SUPPORTED: "s", CONTRADICTED: "c", UNVERIFIED: "u"}
_VERDICTS = {v: k for k, v in _CODES.items()}


@dataclass(frozen=True, slots=True)
class Fact:
    id: int
    statement: str
    source: str


@dataclass(frozen=True, slots=True)
class Candidate:
    """A fact the store returned for a claim, with what judging needs."""

    fact: Fact
    template: str
    numbers: tuple[float, ...]
    trust: float
    similarity: float


@dataclass(frozen=True, slots=True)
class Verdict:
    verdict: str
    confidence: float
    fact: Fact | None = None

    def encode(self) -> bytes:
        """Compact form for L2: ``["s",0.93,17,"statement","source"]``."""
        f = self.fact
        return orjson.dumps([_CODES[self.verdict], self.confidence] + ([f.id, f.statement, f.source] if f else []))

    @staticmethod
    def decode(raw: bytes) -> "Verdict":
        v = orjson.loads(raw)
        return Verdict(_VERDICTS[v[0]], v[1], Fact(v[2], v[3], v[4]) if len(v) == 5 else None)


UNKNOWN = Verdict(UNVERIFIED, 0.0)


def _same(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return len(a) == len(b) and all(abs(x - y) <= NUMBER_TOLERANCE * max(abs(x), abs(y), 1e-9)
                                    for x, y in zip(a, b))


def judge(claim: str, claim_numbers: tuple[float, ...], candidate: Candidate | None) -> Verdict:
    """The verdict on ``claim`` (normalised) given the store's best candidate, if any."""
    if candidate is None or candidate.similarity < MATCH_SIMILARITY:
        return UNKNOWN
    claim_words, fact_words = set(template(claim).split()), set(candidate.template.split())
    if (claim_words ^ fact_words) - NEGATIONS - FUNCTION_WORDS:
        return UNKNOWN  # similar wording about something else
    agrees = _same(claim_numbers, candidate.numbers)
    negated = bool(NEGATIONS & claim_words) != bool(NEGATIONS & fact_words)
    confidence = round(candidate.similarity * candidate.trust, 3)
    return Verdict(SUPPORTED if agrees != negated else CONTRADICTED, confidence, candidate.fact)
