"""P1 rate limiting per user and endpoint: a fixed one-minute window counted by one Lua script.

The increment and the expiry happen in the same atomic script, so concurrent
requests never admit more than the limit and no counter outlives its window
(the seed's INCR-then-EXPIRE can leave a key that never expires). Redis down:
requests are admitted and counted as ``sentinel_ratelimit_failopen_total``.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from stack.api.metrics import Metrics

log = logging.getLogger("sentinel.ratelimit")
WINDOW_MS = 60_000

# KEYS[1] counter; ARGV[1] limit, ARGV[2] window ms → {admitted 0|1, count, ms until the window ends}
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
    def __init__(self, redis: aioredis.Redis, per_minute: int, metrics: Metrics):
        self.per_minute = per_minute
        self.metrics = metrics
        self._script = redis.register_script(WINDOW_COUNTER_SCRIPT)

    async def check(self, user_id: int, endpoint: str) -> Decision:
        window = int(time.time() * 1000) // WINDOW_MS
        key = f"sentinel:ratelimit:{user_id}:{endpoint}:{window}"
        try:
            admitted, count, ttl_ms = await self._script(keys=[key], args=[self.per_minute, WINDOW_MS])
        except (RedisError, OSError) as exc:
            self.metrics.ratelimit_failopen.inc()
            self.metrics.redis_errors.labels("ratelimit").inc()
            log.warning("rate limit not checked (Redis unavailable), request admitted: %s", exc)
            return Decision(True, self.per_minute, 0)
        if not admitted:
            self.metrics.ratelimit_rejected.inc()
        return Decision(bool(admitted), max(0, self.per_minute - int(count)), max(1, math.ceil(int(ttl_ms) / 1000)))
