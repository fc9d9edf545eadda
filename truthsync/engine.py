"""Verification of texts: sentences → claims → L1 → L2 → fact store, read-through and write-through.

All claims of a call that miss L1 are resolved together: one Redis MGET, one
fact-store query for what L2 lacks, one pipelined write-back. A claim already
being computed for another request is awaited, not computed twice.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import orjson

from truthsync.classify import Classifier
from truthsync.factstore import FactStore
from truthsync.local_cache import LocalCache
from truthsync.metrics import Metrics
from truthsync.shared_cache import SharedCache
from truthsync.text import normalise, numbers, split_sentences, stable_key, template
from truthsync.verdict import Fact, Verdict, judge

_ns = time.perf_counter_ns


@dataclass(slots=True)
class ClaimResult:
    text: str
    claim: str  # normalised
    verdict: str
    confidence: float
    fact: Fact | None
    cache: str  # "l1", "l2" or "miss" (computed from the fact store)
    micros: float


@dataclass(slots=True)
class TextResult:
    claims: list[ClaimResult]
    opinions: list[str]
    micros: float


class Verifier:
    def __init__(self, store: FactStore, l1: LocalCache[Verdict], l2: SharedCache | None, metrics: Metrics,
                 classifier: Classifier | None = None):
        self.store, self.l1, self.l2, self.metrics = store, l1, l2, metrics
        self.classifier = classifier or Classifier()
        self._inflight: dict[str, asyncio.Future] = {}

    async def verify(self, texts: list[str]) -> list[TextResult]:
        """Verdicts for every claim in every text; raises FactStoreError if a claim needs a dead store."""
        now, l1_get, is_claim = self.l1.clock(), self.l1.get, self.classifier.is_claim
        results: list[TextResult] = []
        waiting: dict[str, list[tuple[ClaimResult, int]]] = {}
        n_hits = n_opinions = 0
        for text in texts:
            t0 = _ns()
            claims, opinions = [], []
            for sentence in split_sentences(text):
                if not is_claim(sentence):
                    opinions.append(sentence)
                    continue
                start = _ns()
                claim = normalise(sentence)
                v = l1_get(claim, now)
                if v is None:
                    r = ClaimResult(sentence, claim, "", 0.0, None, "miss", 0.0)
                    waiting.setdefault(claim, []).append((r, start))
                else:
                    r = ClaimResult(sentence, claim, v.verdict, v.confidence, v.fact, "l1", (_ns() - start) / 1e3)
                    n_hits += 1
                claims.append(r)
            n_opinions += len(opinions)
            results.append(TextResult(claims, opinions, (_ns() - t0) / 1e3))
        m = self.metrics
        m.l1_hit.inc(n_hits)
        m.claims_l1.inc(n_hits)
        m.opinions.inc(n_opinions)
        if waiting:
            m.l1_miss.inc(sum(map(len, waiting.values())))
            await self._fill(waiting, results)
        return results

    async def _fill(self, waiting: dict[str, list[tuple[ClaimResult, int]]], results: list[TextResult]) -> None:
        resolved = await self._resolve(list(waiting))
        slowest = 0.0
        for claim, entries in waiting.items():
            v, level = resolved[claim]
            (self.metrics.claims_l2 if level == "l2" else self.metrics.claims_miss).inc(len(entries))
            for r, start in entries:
                r.verdict, r.confidence, r.fact, r.cache = v.verdict, v.confidence, v.fact, level
                r.micros = (_ns() - start) / 1e3
                slowest = max(slowest, r.micros)
        for t in results:  # a text's time includes the shared L2/fact-store round trip it waited for
            if any(c.cache != "l1" for c in t.claims):
                t.micros = max(t.micros, slowest)

    async def _resolve(self, claims: list[str]) -> dict[str, tuple[Verdict, str]]:
        found: dict[str, tuple[Verdict, str]] = {}
        theirs = [(c, self._inflight[c]) for c in claims if c in self._inflight]
        mine = [c for c in claims if c not in self._inflight]
        if mine:
            loop = asyncio.get_running_loop()
            futures = {c: loop.create_future() for c in mine}
            self._inflight.update(futures)
            try:
                found = await self._lookup(mine)
                for c, f in futures.items():
                    f.set_result(found[c])
            except BaseException as exc:
                for f in futures.values():
                    f.set_exception(exc)
                    f.exception()  # marks it retrieved: only the waiters, if any, re-raise it
                raise
            finally:
                for c in mine:
                    self._inflight.pop(c, None)
        for c, f in theirs:
            found[c] = await f
        return found

    async def _lookup(self, claims: list[str]) -> dict[str, tuple[Verdict, str]]:
        """L2 for all, then the fact store for what L2 lacks; fills L1 and writes L2 through."""
        found: dict[str, tuple[Verdict, str]] = {}
        rest = claims
        if self.l2 is not None:
            raw = await self.l2.get_many([stable_key(c) for c in claims])
            if raw is not None:
                rest = []
                for c, value in zip(claims, raw):
                    v = _decode(value)
                    if v is None:
                        rest.append(c)
                    else:
                        found[c] = (v, "l2")
                        self.l1.put(c, v)
                self.metrics.l2_hit.inc(len(found))
                self.metrics.l2_miss.inc(len(rest))
        if rest:
            start = time.perf_counter()
            candidates = await self.store.best([template(c) for c in rest])
            self.metrics.factstore_queries.observe(time.perf_counter() - start)
            fresh = []
            for c, candidate in zip(rest, candidates):
                v = judge(c, numbers(c), candidate)
                found[c] = (v, "miss")
                self.l1.put(c, v)
                fresh.append((stable_key(c), v.encode()))
            if self.l2 is not None:
                await self.l2.set_many(fresh)
        return found


def _decode(raw: bytes | None) -> Verdict | None:
    """An L2 value, or None when absent or unreadable (written by another version: recompute it)."""
    if raw is None:
        return None
    try:
        return Verdict.decode(raw)
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        return None
