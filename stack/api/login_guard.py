"""Login throttling: after ``FAILURES`` failed logins for one username within a window, further attempts
for it get 429 until the window ends, so a password cannot be guessed at request speed.

Only failures count (a load test logging its users in is never throttled); the counter is incremented
and given its expiry in one atomic script (the rate limiter's). Keys hold a digest of the username,
so any input is a valid key. Redis down: the attempt is allowed and counted as a Redis error.
"""
from __future__ import annotations

import hashlib
import logging
import math

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from stack.api.metrics import Metrics
from stack.api.ratelimit import WINDOW_COUNTER_SCRIPT

log = logging.getLogger("sentinel.login")
FAILURES = 10
WINDOW_MS = 5 * 60_000


class LoginGuard:
    def __init__(self, redis: aioredis.Redis, metrics: Metrics, failures: int = FAILURES,
                 window_ms: int = WINDOW_MS):
        self.redis, self.metrics, self.failures, self.window_ms = redis, metrics, failures, window_ms
        self._count = redis.register_script(WINDOW_COUNTER_SCRIPT)

    @staticmethod
    def _key(username: str) -> str:
        return "sentinel:loginfail:" + hashlib.sha256(username.encode("utf-8", "surrogatepass")).hexdigest()[:32]

    async def retry_after_s(self, username: str) -> int:
        """0 when ``username`` may try to log in; else the seconds until its window of failures ends."""
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                count, ttl_ms = await pipe.get(self._key(username)).pttl(self._key(username)).execute()
        except (RedisError, OSError) as exc:
            self.metrics.redis_errors.labels("login").inc()
            log.warning("failed logins not checked (Redis unavailable): %s", exc)
            return 0
        if count is None or int(count) < self.failures:
            return 0
        return max(1, math.ceil(int(ttl_ms) / 1000))

    async def failed(self, username: str) -> None:
        try:
            await self._count(keys=[self._key(username)], args=[self.failures, self.window_ms])
        except (RedisError, OSError) as exc:
            self.metrics.redis_errors.labels("login").inc()
            log.warning("failed login not counted (Redis unavailable): %s", exc)
