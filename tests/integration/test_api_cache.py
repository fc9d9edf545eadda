"""P1 dashboard cache against real Postgres and Redis: hits, invalidation, no stale reads, stampedes, Redis down."""
import asyncio
from datetime import datetime

import pytest
from api_support import config, login, metric, seeded_database, serve

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture(scope="module")
def dsn(pg_dsn):
    return seeded_database(pg_dsn, "api_cache")


async def _open(client, headers, title="cache test"):
    r = await client.post("/api/v1/incidents", headers=headers,
                          json={"title": title, "severity": "critical", "service": "api"})
    assert r.status_code == 201, r.text
    return r.json()


async def test_second_read_is_a_hit_with_the_same_dashboard_and_no_queries(dsn, redis_url):
    async with serve(config(dsn, redis_url, cache="on")) as (app, client):
        headers = await login(client, tenant_id=2)
        first = await client.get("/api/v1/dashboard/2", headers=headers)
        queries = metric(app, "sentinel_db_queries_total")
        second = await client.get("/api/v1/dashboard/2", headers=headers)
        assert (first.headers["x-cache"], second.headers["x-cache"]) == ("miss", "hit")
        assert first.json() == second.json()
        assert metric(app, "sentinel_db_queries_total") - queries == 1  # the tenant check only
        body = first.json()
        assert body["generated_at"] and body["windows"]["7d"]["total"] > 0
        assert isinstance(body["windows"]["7d"]["mttr_s"], float)


async def test_a_write_invalidates_the_dashboard_before_it_returns(dsn, redis_url):
    async with serve(config(dsn, redis_url, cache="on")) as (app, client):
        headers = await login(client, tenant_id=3)
        before = (await client.get("/api/v1/dashboard/3", headers=headers)).json()
        await _open(client, headers)
        after = await client.get("/api/v1/dashboard/3", headers=headers)
        assert after.headers["x-cache"] == "miss"
        assert after.json()["windows"]["24h"]["total"] == before["windows"]["24h"]["total"] + 1


async def test_no_reader_sees_an_old_dashboard_after_a_write_under_concurrency(dsn, redis_url):
    """8 readers hammer the dashboard while 15 writes land; a read issued after a write's response
    must be computed after that write (its generated_at is later than the incident's opened_at)."""
    async with serve(config(dsn, redis_url, cache="on")) as (app, client):
        headers = await login(client, tenant_id=4)
        stop, stale = asyncio.Event(), []

        async def reader():
            while not stop.is_set():
                await client.get("/api/v1/dashboard/4", headers=headers)

        readers = [asyncio.create_task(reader()) for _ in range(8)]
        for i in range(15):
            written = await _open(client, headers, f"concurrent write {i}")
            seen = (await client.get("/api/v1/dashboard/4", headers=headers)).json()
            if datetime.fromisoformat(seen["generated_at"]) < datetime.fromisoformat(written["opened_at"]):
                stale.append(i)
        stop.set()
        await asyncio.gather(*readers)
        assert stale == []
        assert metric(app, "sentinel_cache_requests_total", result="hit") > 0


async def test_concurrent_cold_reads_compute_the_dashboard_once(dsn, redis_url):
    async with serve(config(dsn, redis_url, cache="on")) as (app, client):
        headers = await login(client, tenant_id=5)
        await _open(client, headers)  # a new generation: the dashboard is cold
        computed = metric(app, "sentinel_cache_requests_total", result="miss")
        queries = metric(app, "sentinel_db_queries_total")
        replies = await asyncio.gather(*(client.get("/api/v1/dashboard/5", headers=headers) for _ in range(20)))
        assert {r.status_code for r in replies} == {200}
        assert len({r.json()["generated_at"] for r in replies}) == 1
        misses = metric(app, "sentinel_cache_requests_total", result="miss") - computed
        statements = metric(app, "sentinel_db_queries_total") - queries
        assert statements == 20 + 2 * (1 if misses else 0)  # 20 tenant checks + one dashboard (2 statements)


async def test_redis_stopped_mid_test_the_dashboard_comes_from_postgres(dsn, private_redis):
    async with serve(config(dsn, private_redis.url, cache="on")) as (app, client):
        headers = await login(client, tenant_id=1)
        assert (await client.get("/api/v1/dashboard/1", headers=headers)).status_code == 200
        private_redis.stop()
        reply = await client.get("/api/v1/dashboard/1", headers=headers)
        assert reply.status_code == 200 and reply.headers["x-cache"] == "fallback"
        assert (await _open(client, headers))["id"]  # writes still work; the invalidation waits for Redis
        assert metric(app, "sentinel_cache_requests_total", result="fallback") >= 1
        private_redis.start()
        fresh = await client.get("/api/v1/dashboard/1", headers=headers)
        assert fresh.headers["x-cache"] == "miss"


async def test_two_processes_reading_a_cold_key_compute_it_once(redis_url):
    """Two caches with their own in-process single flight (as two API processes) share the Redis lock."""
    import redis.asyncio as aioredis

    from stack.api.cache import DashboardCache
    from stack.api.metrics import Metrics

    calls = 0

    async def compute():
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.2)
        return {"tenant_id": 99, "generated_at": datetime.now().astimezone()}

    clients = [aioredis.Redis.from_url(redis_url) for _ in range(2)]
    caches = [DashboardCache(c, 30, Metrics()) for c in clients]
    await caches[0].invalidate(99)
    results = await asyncio.gather(*(caches[i % 2].get(99, compute) for i in range(10)))
    assert calls == 1 and len({r[0]["generated_at"] for r in results}) == 1
    for c in clients:
        await c.aclose()
