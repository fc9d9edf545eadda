"""Factual claim or opinion? Aho-Corasick keyword automata plus surface features.

A sentence is a claim when its factual evidence (numbers, dates, percentages,
named sources, factual verbs) outweighs its opinion evidence (evaluative
words, first person, hedging). Questions are never claims.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import ahocorasick

OPINION = (
    "i think", "i believe", "i feel", "i guess", "i suppose", "in my opinion", "in my view", "we think",
    "we believe", "should", "ought to", "must", "needs to", "deserves", "best", "worst", "beautiful", "ugly",
    "amazing", "terrible", "awful", "wonderful", "great", "overrated", "underrated", "love", "hate", "prefer",
    "favourite", "favorite", "boring", "exciting", "nicest", "lovely", "disgusting", "brilliant", "stupid",
    "fantastic", "horrible", "ridiculous", "pointless", "obviously", "clearly", "a disgrace", "a shame",
)
HEDGES = (
    "probably", "maybe", "perhaps", "might", "may", "could", "possibly", "seems", "apparently", "likely",
    "rumoured", "rumored", "some say", "presumably", "arguably", "supposedly",
)
FACTUAL = (
    "is located", "was founded", "founded in", "was born", "born in", "died in", "built in", "established in",
    "population", "census", "percent", "km", "kilometres", "kilometers", "square", "million", "billion",
    "capital of", "consists of", "measured", "recorded", "announced", "published", "reported", "rate of",
    "rate in", "average", "was elected", "has an area", "is home to", "borders", "contains", "produced",
    "exported", "imported", "grew by", "fell by", "rose by", "increased", "decreased", "degrees", "tonnes",
    "metres", "meters", "long", "tall", "high", "located in", "member of", "signed", "elected", "invented",
)
SOURCES = ("according to", "reported by", "a study by", "a survey by", "data from", "figures from", "said the")
MONTHS = ("january", "february", "march", "april", "june", "july", "august", "september", "october",
          "november", "december")

_NUMBER = re.compile(r"\d")
_YEAR = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})\b")
_PERCENT = re.compile(r"\d\s*(%|per ?cent)")
_PROPER = re.compile(r"(?<=[a-z,] )[A-Z][a-z]+")  # a capitalised word that does not start the sentence
_WORDS = re.compile(r"[^\w%]+")


def _automaton(groups: dict[str, tuple[str, ...]]) -> ahocorasick.Automaton:
    a = ahocorasick.Automaton()
    for kind, words in groups.items():
        for w in words:
            a.add_word(f" {w} ", kind)
    a.make_automaton()
    return a


@dataclass(frozen=True, slots=True)
class Weights:
    number: float = 0.9
    year: float = 0.6
    month: float = 0.3
    percent: float = 0.6
    source: float = 1.0
    factual: float = 0.6
    proper: float = 0.4
    opinion: float = 1.3
    hedge: float = 0.6
    threshold: float = 1.0


class Classifier:
    """Scores a sentence; ``is_claim`` is the hot path (a few µs)."""

    def __init__(self, weights: Weights = Weights()):
        self.w = weights
        self._ac = _automaton({"opinion": OPINION, "hedge": HEDGES, "factual": FACTUAL,
                               "source": SOURCES, "month": MONTHS})

    def score(self, sentence: str) -> float:
        """Factual evidence minus opinion evidence; a claim scores at least ``threshold``."""
        if sentence.rstrip().endswith("?"):
            return float("-inf")
        w = self.w
        counts = {"opinion": 0, "hedge": 0, "factual": 0, "source": 0, "month": 0}
        for _, kind in self._ac.iter(" " + _WORDS.sub(" ", sentence.lower()) + " "):
            counts[kind] += 1
        factual = (w.factual * min(counts["factual"], 2) + w.source * min(counts["source"], 1)
                   + w.month * min(counts["month"], 1))
        if _NUMBER.search(sentence):
            factual += w.number
            if _YEAR.search(sentence):
                factual += w.year
            if _PERCENT.search(sentence):
                factual += w.percent
        if _PROPER.search(sentence):
            factual += w.proper
        return factual - w.opinion * counts["opinion"] - w.hedge * counts["hedge"]

    def is_claim(self, sentence: str) -> bool:
        return self.score(sentence) >= self.w.threshold
