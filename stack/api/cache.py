"""P1 query cache for the dashboard: async Redis, versioned keys, single flight, Postgres fallback.

Keys are ``sentinel:cache:dashboard:<tenant>:<generation>``. A write replaces the
tenant's generation (a fresh random token) before its response returns, so any
read that starts after the write looks under a new key and recomputes; a value a
slow reader stores under the old generation is never read again. A failed
invalidation is remembered and retried before the next lookup, which bypasses the
cache until it succeeds. Stampedes: one recompute per key in this process
(a shared future) and across processes (a short Redis lock; others wait for the value).
Values and locks live in the evictable cache instance (``values``); generations in the main,
never-evicting one: an evicted generation would make an old generation's value reachable again.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from stack import lab_probe
from stack.api import codec
from stack.api.metrics import Metrics

log = logging.getLogger("sentinel.cache")
PREFIX = "sentinel:cache:"
LOCK_TTL_MS = 5000


class DashboardCache:
    def __init__(self, redis: aioredis.Redis, ttl_s: float, metrics: Metrics, wait_step_s: float = 0.02,
                 values: aioredis.Redis | None = None):
        self.redis = redis  # generations (analysis.redis_instances.MAIN)
        self.values = values or redis  # values and locks (analysis.redis_instances.CACHE)
        self.ttl_ms = int(ttl_s * 1000)
        self.metrics = metrics
        self.wait_step_s = wait_step_s
        self._flights: dict[str, asyncio.Future] = {}
        self._pending: set[int] = set()  # tenants whose invalidation failed

    @staticmethod
    def generation_key(tenant_id: int) -> str:
        return f"{PREFIX}dashboard:{tenant_id}:generation"

    async def get(self, tenant_id: int, compute: Callable[[], Awaitable[dict]]) -> tuple[dict, str]:
        """The tenant's dashboard and where it came from: ``hit``, ``miss`` or ``fallback`` (Redis down)."""
        try:
            await self._retry_invalidations()
            generation = await self.redis.get(self.generation_key(tenant_id))
            key = f"{PREFIX}dashboard:{tenant_id}:{(generation or b'0').decode()}"
            raw = await self.values.get(key)
        except (RedisError, OSError) as exc:
            return await self._fallback(compute, exc)
        counted = not lab_probe.is_probe_tenant(tenant_id)  # the lab's probes are not the workload's lookups
        if raw is not None:
            if counted:
                self.metrics.cache_hit.inc()
            return codec.loads(raw), "hit"
        if counted:
            self.metrics.cache_miss.inc()
        flight = self._flights.get(key)
        if flight is None:
            flight = self._flights[key] = asyncio.ensure_future(self._fill(key, compute))
            flight.add_done_callback(lambda _: self._flights.pop(key, None))
        return await asyncio.shield(flight), "miss"

    async def invalidate(self, tenant_id: int) -> None:
        """Give the tenant a new generation; on Redis trouble, bypass the cache until it can be done."""
        self._pending.add(tenant_id)
        try:
            await self._retry_invalidations()
        except (RedisError, OSError) as exc:
            self.metrics.redis_errors.labels("cache").inc()
            log.warning("dashboard invalidation deferred (Redis unavailable): %s", exc, extra={"tenant": tenant_id})

    async def _retry_invalidations(self) -> None:
        while self._pending:
            tenant_id = next(iter(self._pending))
            await self.redis.set(self.generation_key(tenant_id), secrets.token_hex(8))
            self._pending.discard(tenant_id)

    async def _fill(self, key: str, compute: Callable[[], Awaitable[dict]]) -> dict:
        lock = f"{key}:lock"
        try:
            owner = await self.values.set(lock, b"1", nx=True, px=LOCK_TTL_MS)
            if not owner:  # another process computes it: wait for its value, up to the lock's lifetime
                for _ in range(int(LOCK_TTL_MS / 1000 / self.wait_step_s)):
                    await asyncio.sleep(self.wait_step_s)
                    raw = await self.values.get(key)
                    if raw is not None:
                        return codec.loads(raw)
                    if not await self.values.exists(lock):  # released: stored just now, or given up
                        raw = await self.values.get(key)
                        if raw is not None:
                            return codec.loads(raw)
                        break
        except (RedisError, OSError) as exc:
            self.metrics.redis_errors.labels("cache").inc()
            log.warning("cache lock unavailable, computing anyway: %s", exc)
        try:
            value = await compute()
        except BaseException:
            await self._release(lock)
            raise
        try:
            async with self.values.pipeline(transaction=True) as pipe:
                await pipe.set(key, codec.dumps(value), px=self.ttl_ms).delete(lock).execute()
        except (RedisError, OSError) as exc:
            self.metrics.redis_errors.labels("cache").inc()
            log.warning("dashboard not stored in the cache: %s", exc)
        return value

    async def _release(self, lock: str) -> None:
        """Let waiting processes compute for themselves at once instead of waiting out the lock."""
        try:
            await self.values.delete(lock)
        except (RedisError, OSError):
            pass  # the lock expires by itself within LOCK_TTL_MS

    async def _fallback(self, compute: Callable[[], Awaitable[dict]], exc: Exception) -> tuple[dict, str]:
        self.metrics.cache_fallback.inc()
        self.metrics.redis_errors.labels("cache").inc()
        log.warning("cache unavailable, answering from Postgres: %s", exc)
        return await compute(), "fallback"
