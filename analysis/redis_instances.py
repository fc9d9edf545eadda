"""The stack's two Redis instances and what each may hold: declared once, for both stack kinds.

Sessions, the logout deny-list, rate-limit windows, the login throttle, the Celery queue and the
dashboard's cache generations must never be evicted (an evicted deny-list entry revives a logged-out
token, an evicted counter lets requests over the limit through, an evicted generation makes an old
dashboard reachable again), yet they carry TTLs, so ``volatile-*`` would evict them too. So they live
in ``redis`` (``noeviction``: under memory pressure a write fails loudly instead), and the caches that
may be dropped at any time (dashboard values, TruthSync's L2) live in ``redis-cache`` (``allkeys-lru``).
Services reach the cache instance through ``stack.envconfig.CACHE_URL_ENV`` (unset: ``REDIS_URL``).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class RedisInstance:
    service: str  # catalogue name and key of analysis.settings.PORTS
    maxmemory: str
    policy: Literal["noeviction", "allkeys-lru"]
    holds: str


MAIN = RedisInstance("redis", "512mb", "noeviction",
                     "sessions, logout deny-list, rate-limit counters, login throttle, Celery queue, "
                     "dashboard cache generations, pub/sub")
CACHE = RedisInstance("redis-cache", "256mb", "allkeys-lru", "dashboard cache values, TruthSync L2")
INSTANCES: tuple[RedisInstance, ...] = (MAIN, CACHE)
BY_SERVICE = {i.service: i for i in INSTANCES}


def acl(rules: dict[str, str], passwords: dict[str, str]) -> list[dict[str, str]]:
    """The ACL users every instance's rendered config declares: name, rules and the SHA-256 of the
    password (Redis never sees the plain one)."""
    return [{"name": user, "rules": rule, "password_sha256": hashlib.sha256(passwords[user].encode()).hexdigest()}
            for user, rule in rules.items()]
