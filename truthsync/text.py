"""Sentences, claim normalisation and cache keys.

The normalised claim is what the caches and the fact store agree on: two
sentences that differ only in case, punctuation, thousand separators or a
leading/trailing "according to X" attribution share one verdict.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")
_ATTRIBUTION = re.compile(r"^according to [^,]+,\s*|,\s*according to [^,]+$")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_NOT = re.compile(r"n['’]t\b")
_PERCENT = re.compile(r"\s*%|\bper ?cent\b")
_LONE_DOT = re.compile(r"(?<!\d)\.|\.(?!\d)")
_NOT_WORD = re.compile(r"[^\w\s.]|_")
NUMBER = re.compile(r"\d+(?:\.\d+)?")

#: bump when normalisation changes, so old L2 entries are never read back
KEY_VERSION = "v1"


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``: split after . ! ? followed by space and a capital or digit."""
    return [s for s in (p.strip() for p in _SENTENCE_END.split(text.strip())) if s]


def normalise(sentence: str) -> str:
    """The canonical form of a claim: NFKC, lower case, no attribution, plain numbers, no punctuation."""
    s = unicodedata.normalize("NFKC", sentence).lower().strip()
    s = _THOUSANDS.sub("", s)
    s = _NOT.sub(" not", s)
    s = _ATTRIBUTION.sub("", s)
    s = _PERCENT.sub(" percent", s)
    s = _LONE_DOT.sub(" ", s)
    s = _NOT_WORD.sub(" ", s)
    return " ".join(s.split())


def template(claim: str) -> str:
    """The claim with every number replaced by ``#``: what the fact store is searched by."""
    return NUMBER.sub("#", claim)


def numbers(claim: str) -> tuple[float, ...]:
    return tuple(float(n) for n in NUMBER.findall(claim))


def stable_key(claim: str) -> str:
    """A short key that is the same in every process and on every machine (unlike ``hash``)."""
    return f"ts:{KEY_VERSION}:" + hashlib.blake2b(claim.encode(), digest_size=12).hexdigest()
