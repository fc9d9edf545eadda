"""Memory pressure never evicts sessions, logout deny-list entries or rate-limit counters.

The local stack's own rendered Redis configs (analysis.redis_instances: ``redis`` noeviction,
``redis-cache`` allkeys-lru) run here with a small maxmemory; the API is wired by its own ``build``
and TruthSync's L2 by its own class, and the caches are filled to three times the room left. The
positive control runs the old scheme (one instance, ``allkeys-lru``, caches beside everything else)
through the same fill and shows it loses all three kinds.
"""
from __future__ import annotations

import asyncio
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from ports import free_port, wait_port

from analysis.redis_instances import CACHE, MAIN
from analysis.settings import Settings
from analysis.stack.local import LocalStack
from analysis.stack.render import CONFIG_SRC, render_configs
from stack.api.app import build
from stack.api.config import ApiConfig
from stack.api.sessions import JwtSessions, SessionError
from truthsync.shared_cache import SharedCache

pytestmark = pytest.mark.integration

KEPT = 40  # sessions, deny-list entries and rate-limited users created before the fill
LIMIT = 3  # requests per user and window
HEADROOM = 2 * 1024 * 1024  # bytes each instance may grow by
VALUE = 16 * 1024  # bytes per cached value
SECRET = "memory-test-secret-of-at-least-32-bytes"


@dataclass
class Survivors:
    sessions: int
    revoked: int  # logged-out tokens still refused
    counters: int  # users still refused over their limit
    cache_evicted: int
    main_evicted: int


def _start(config: Path, port: int, *flags: str) -> subprocess.Popen:
    proc = subprocess.Popen(["redis-server", str(config), "--port", str(port), *flags],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    wait_port(port)
    return proc


def _small(url: str) -> None:
    """maxmemory = what the instance uses now + HEADROOM (its policy stays the rendered one)."""
    with redis.Redis.from_url(url) as r:
        r.config_set("maxmemory", int(r.info("memory")["used_memory"]) + HEADROOM)


def _evicted(url: str) -> int:
    with redis.Redis.from_url(url) as r:
        return int(r.info("stats")["evicted_keys"])


async def _fill_and_count(main_url: str, cache_url: str) -> Survivors:
    """Sessions, logouts and counters first; then three times HEADROOM of dashboard values and L2
    entries; then which of the first still hold."""
    def api(sessions: str):
        return build(ApiConfig(database_url="postgresql://unused@127.0.0.1:1/none", redis_url=main_url,
                               cache_redis_url=cache_url, sessions=sessions, cache="on", ratelimit="on",
                               ratelimit_per_min=LIMIT, ratelimit_window_s=600, jwt_secret=SECRET))
    redis_api, jwt_api = api("redis"), api("jwt")
    assert isinstance(jwt_api.sessions, JwtSessions)
    tokens = [await redis_api.sessions.create(u, 1) for u in range(KEPT)]
    revoked = [await jwt_api.sessions.create(u, 1) for u in range(KEPT)]
    for token in revoked:
        await jwt_api.sessions.end(await jwt_api.sessions.resolve(token))
    for user in range(KEPT):
        for _ in range(LIMIT):
            assert (await redis_api.ratelimiter.check(user, "dashboard")).admitted

    blob = {"payload": "x" * VALUE}

    async def compute() -> dict:
        return blob
    l2 = SharedCache(cache_url, ttl_s=3600, timeout_s=2.0)
    written, tenant = 0, 10_000
    while written < 3 * HEADROOM:
        await redis_api.cache.get(tenant, compute)  # a miss: stored under the tenant's dashboard key
        assert await l2.set_many([(f"ts:v1:claim:{tenant}", b"y" * VALUE)]), "the L2 write failed"
        written, tenant = written + 2 * VALUE, tenant + 1
    await l2.close()

    sessions = 0
    for token in tokens:
        try:
            await redis_api.sessions.resolve(token)
            sessions += 1
        except SessionError:
            pass
    still_revoked = 0
    fresh = JwtSessions(jwt_api.redis, SECRET, 3600, jwt_api.metrics)  # no in-process memory of logouts
    for token in revoked:
        try:
            await fresh.resolve(token)
        except SessionError:
            still_revoked += 1
    counters = 0
    for user in range(KEPT):
        counters += not (await redis_api.ratelimiter.check(user, "dashboard")).admitted
    for a in (redis_api, jwt_api):
        await a.redis.aclose()
        await a.cache.values.aclose()
    return Survivors(sessions, still_revoked, counters, _evicted(cache_url), _evicted(main_url))


@pytest.fixture
def rendered_redis(tmp_path) -> tuple[Settings, Path]:
    """The local stack's Redis configs, rendered as ``sentinel-lab up`` renders them."""
    settings = Settings(run_dir=tmp_path / "run")
    context = LocalStack(settings, only=[MAIN.service, CACHE.service]).provision.context({})
    render_configs(CONFIG_SRC, tmp_path / "config", context, only={"redis"})
    return settings, tmp_path / "config" / "redis"


def _url(settings: Settings, port: int) -> str:
    return settings.redis_url_as("lab").rsplit("@", 1)[0] + f"@127.0.0.1:{port}/0"


def test_filling_the_caches_past_maxmemory_evicts_no_session_logout_or_counter(rendered_redis):
    settings, config = rendered_redis
    main_port, cache_port = free_port(), free_port()
    procs = [_start(config / "redis.conf", main_port), _start(config / "redis-cache.conf", cache_port)]
    try:
        main_url, cache_url = _url(settings, main_port), _url(settings, cache_port)
        with redis.Redis.from_url(main_url) as r:
            assert r.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
        with redis.Redis.from_url(cache_url) as r:
            assert r.config_get("maxmemory-policy")["maxmemory-policy"] == "allkeys-lru"
        for url in (main_url, cache_url):
            _small(url)
        got = asyncio.run(_fill_and_count(main_url, cache_url))
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
    assert got.cache_evicted > 0, "the fill never pressed the cache instance: the test proves nothing"
    assert got.main_evicted == 0
    assert (got.sessions, got.revoked, got.counters) == (KEPT, KEPT, KEPT)


def test_positive_control_one_allkeys_lru_instance_loses_sessions_logouts_and_counters(rendered_redis):
    """The old scheme: one instance, allkeys-lru, the caches beside everything else."""
    settings, config = rendered_redis
    port = free_port()
    proc = _start(config / "redis.conf", port, "--maxmemory-policy", "allkeys-lru")
    try:
        url = _url(settings, port)
        _small(url)
        got = asyncio.run(_fill_and_count(url, url))
    finally:
        proc.terminate()
        proc.wait(10)
    assert got.main_evicted > 0
    print(f"\nold scheme after the fill: {got}")
    assert got.sessions < KEPT and got.revoked < KEPT and got.counters < KEPT, got
