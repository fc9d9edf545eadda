"""P1 rate limiting per user and endpoint: at most ``limit`` requests in any window of ``window_s`` seconds.

``SENTINEL_RATELIMIT`` picks the limiter:

- ``on``: the lab's limiter, a sliding log in one Lua script (a sorted set of the admission times,
  Redis's own clock): no ``window_s`` span ever holds more than the limit, at a window boundary or
  under any concurrency, and the key expires with its last admission.
- ``naive``: the design document's limiter as published: ``INCR``, then ``EXPIRE`` when the count is
  1, in two calls. Its window is fixed (it starts at the first request), so a burst at the end of one
  window and another at the start of the next admit twice the limit within ``window_s``; and a
  process stopped between the two calls leaves a key without expiry that refuses the user for good.
- ``racy``: a positive control, never an optimisation: read the count, compare, then increment, in
  separate calls, so concurrent requests all pass the comparison before any increment lands.

Redis down: requests are admitted and counted as ``sentinel_ratelimit_failopen_total``.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from stack.api.metrics import Metrics

log = logging.getLogger("sentinel.ratelimit")
KEY_PREFIX = "sentinel:ratelimit:"

# KEYS[1] sorted set of admission times (µs); ARGV[1] limit, ARGV[2] window µs
# → {admitted 0|1, admissions in the window, µs until a slot frees}
_SLIDING = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count >= tonumber(ARGV[1]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, count, tonumber(oldest[2]) + window - now}
end
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] and tonumber(last[2]) >= now then now = tonumber(last[2]) + 1 end
redis.call('ZADD', KEYS[1], now, now)
redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
return {1, count + 1, 0}
"""


# A fixed-window counter in one atomic script, for the login guard's failed-attempt count (a throttle
# on guessing, not a claim about any window): KEYS[1] counter; ARGV[1] limit, ARGV[2] window ms
# → {admitted 0|1, count, ms until the window ends}
WINDOW_COUNTER_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]); ttl = tonumber(ARGV[2]) end
if count > tonumber(ARGV[1]) then return {0, count, ttl} end
return {1, count, ttl}
"""


@dataclass(frozen=True)
class Decision:
    admitted: bool
    remaining: int
    retry_after_s: int


class RateLimiter:
    """``check`` says whether a user's request on an endpoint is admitted; 429 otherwise."""

    kind = ""  # in the key: limiters keep different data, so switching one for another never misreads a key

    def __init__(self, redis: aioredis.Redis, limit: int, metrics: Metrics, window_s: float = 60.0):
        self.redis, self.limit, self.window_s, self.metrics = redis, limit, window_s, metrics

    @classmethod
    def key(cls, user_id: int, endpoint: str) -> str:
        return f"{KEY_PREFIX}{cls.kind}:{user_id}:{endpoint}"

    async def check(self, user_id: int, endpoint: str) -> Decision:
        try:
            admitted, count, retry_s = await self._count(self.key(user_id, endpoint))
        except (RedisError, OSError) as exc:
            self.metrics.ratelimit_failopen.inc()
            self.metrics.redis_errors.labels("ratelimit").inc()
            log.warning("rate limit not checked (Redis unavailable), request admitted: %s", exc)
            return Decision(True, self.limit, 0)
        if not admitted:
            self.metrics.ratelimit_rejected.inc()
        return Decision(admitted, max(0, self.limit - count), max(1, math.ceil(retry_s)))

    async def _count(self, key: str) -> tuple[bool, int, float]:
        """(admitted, requests counted in the window, seconds until the user may retry)."""
        raise NotImplementedError


class SlidingLimiter(RateLimiter):
    kind = "sliding"

    def __init__(self, redis: aioredis.Redis, limit: int, metrics: Metrics, window_s: float = 60.0):
        super().__init__(redis, limit, metrics, window_s)
        self._script = redis.register_script(_SLIDING)

    async def _count(self, key):
        admitted, count, wait_us = await self._script(keys=[key], args=[self.limit, int(self.window_s * 1e6)])
        return bool(admitted), int(count), int(wait_us) / 1e6


class NaiveLimiter(RateLimiter):
    """The design document's snippet: ``INCR``, then ``EXPIRE`` only when the count is 1."""

    kind = "naive"

    async def _count(self, key):
        count = await self.redis.incr(key)
        if count == 1:
            await self.redis.pexpire(key, int(self.window_s * 1000))
        return count <= self.limit, int(count), self.window_s


class RacyLimiter(RateLimiter):
    """Positive control: read, compare, increment — three calls, so a concurrent burst over-admits."""

    kind = "racy"

    async def _count(self, key):
        count = int(await self.redis.get(key) or 0)
        if count >= self.limit:
            return False, count, self.window_s
        if await self.redis.incr(key) == 1:
            await self.redis.pexpire(key, int(self.window_s * 1000))
        return True, count + 1, self.window_s


LIMITERS: dict[str, type[RateLimiter]] = {"on": SlidingLimiter, "naive": NaiveLimiter, "racy": RacyLimiter}


def make(mode: str, redis: aioredis.Redis, limit: int, window_s: float, metrics: Metrics) -> RateLimiter | None:
    """The limiter ``SENTINEL_RATELIMIT=mode`` asks for (None when off)."""
    return LIMITERS[mode](redis, limit, metrics, window_s) if mode in LIMITERS else None
