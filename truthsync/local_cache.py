"""L1: the in-process cache, LRU + TTL.

cachetools' TTLCache keeps the LRU order and the expiry; hits are served from
a plain dict that mirrors it, because TTLCache's pure-Python ``get`` costs
about 1 µs and the lab must measure the cache, not the interpreter. Every
``TOUCH_EVERY``-th hit of a key also refreshes its place in the LRU order, so
hot keys stay while a hit stays a dict lookup.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

import cachetools

V = TypeVar("V")
TOUCH_EVERY = 16


class _Mirrored(cachetools.TTLCache):
    """A TTLCache that removes from ``mirror`` whatever it evicts or expires."""

    def __init__(self, maxsize: int, ttl: float, timer: Callable[[], float], mirror: dict):
        super().__init__(maxsize, ttl, timer)
        self.mirror = mirror

    def expire(self, time=None):
        expired = super().expire(time)
        for key, _ in expired:
            self.mirror.pop(key, None)
        return expired

    def popitem(self):
        key, value = super().popitem()
        self.mirror.pop(key, None)
        return key, value


class LocalCache(Generic[V]):
    """Size-bounded, time-bounded map from normalised claim to verdict."""

    def __init__(self, maxsize: int, ttl_s: float, clock: Callable[[], float] = time.monotonic):
        if maxsize < 1 or ttl_s <= 0:
            raise ValueError("L1 needs a size >= 1 and a TTL > 0 s (TRUTHSYNC_L1_SIZE, TRUTHSYNC_L1_TTL_S)")
        self.clock = clock
        self.ttl_s = ttl_s
        self._fast: dict[str, tuple[float, V]] = {}
        self._lru = _Mirrored(maxsize, ttl_s, clock, self._fast)
        self._hits = 0

    def get(self, key: str, now: float) -> V | None:
        """The value if present and unexpired at ``now`` (one clock read per request, not per claim)."""
        entry = self._fast.get(key)
        if entry is None or entry[0] <= now:
            return None
        self._hits += 1
        if not self._hits % TOUCH_EVERY:
            self._lru.get(key)
        return entry[1]

    def put(self, key: str, value: V) -> None:
        self._lru[key] = value  # may evict or expire others, which leaves the mirror too
        self._fast[key] = (self.clock() + self.ttl_s, value)

    def clear(self) -> None:
        self._lru.clear()
        self._fast.clear()

    def __len__(self) -> int:
        return len(self._fast)
