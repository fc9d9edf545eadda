"""L2: the cache shared by every instance, in Redis (pattern P5).

Values are compact JSON arrays under a stable hash of the normalised claim.
Redis trouble never reaches the caller: the operation reports "unavailable",
the error is counted, and L2 is skipped for ``retry_after_s`` so a dead Redis
costs one failed call per interval instead of one per request.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

log = logging.getLogger("truthsync.l2")


class SharedCache:
    def __init__(self, url: str, ttl_s: int, timeout_s: float = 0.25, retry_after_s: float = 1.0,
                 on_error: Callable[[], None] = lambda: None, clock: Callable[[], float] = time.monotonic):
        self.ttl_s = ttl_s
        self.retry_after_s = retry_after_s
        self.on_error = on_error
        self.clock = clock
        self._down_until = 0.0
        self._redis = aioredis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                                              retry=Retry(NoBackoff(), 0), retry_on_timeout=False,
                                              health_check_interval=0)

    @property
    def available(self) -> bool:
        return self.clock() >= self._down_until

    def _failed(self, op: str, exc: Exception) -> None:
        self.on_error()
        self._down_until = self.clock() + self.retry_after_s
        log.warning("L2 %s failed, serving from L1 and the fact store for %.1fs: %s", op, self.retry_after_s, exc)

    async def get_many(self, keys: list[str]) -> list[bytes | None] | None:
        """Values in key order; ``None`` (not a list) when L2 is unavailable."""
        if not keys or not self.available:
            return None
        try:
            return await self._redis.mget(keys)
        except (RedisError, OSError) as exc:
            self._failed("read", exc)
            return None

    async def set_many(self, items: list[tuple[str, bytes]]) -> bool:
        """Write-through with TTL in one round trip; False when L2 is unavailable."""
        if not items or not self.available:
            return False
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, value in items:
                    pipe.set(key, value, ex=self.ttl_s)
                await pipe.execute()
            return True
        except (RedisError, OSError) as exc:
            self._failed("write", exc)
            return False

    async def close(self) -> None:
        await self._redis.aclose()
