"""Sessions (JWT and Redis) and the rate limit, against a real Postgres and Redis."""
import asyncio

import pytest
from api_support import config, login, metric, seeded_database, serve, user

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture(scope="module")
def dsn(pg_dsn):
    return seeded_database(pg_dsn, "api_auth")


@pytest.mark.parametrize("mode", ["jwt", "redis"])
async def test_logout_ends_the_session(dsn, redis_url, mode):
    async with serve(config(dsn, redis_url, sessions=mode)) as (app, client):
        headers = await login(client)
        assert (await client.get("/api/v1/incidents", headers=headers)).status_code == 200
        assert (await client.post("/api/v1/auth/logout", headers=headers)).status_code == 200
        after = await client.get("/api/v1/incidents", headers=headers)
        assert after.status_code == 401 and "log in again" in after.json()["detail"]


@pytest.mark.parametrize("mode", ["jwt", "redis"])
async def test_a_session_expires_after_its_ttl(dsn, redis_url, mode):
    async with serve(config(dsn, redis_url, sessions=mode, session_ttl_s=1)) as (app, client):
        headers = await login(client)
        assert (await client.get("/api/v1/incidents", headers=headers)).status_code == 200
        await asyncio.sleep(2.2)
        assert (await client.get("/api/v1/incidents", headers=headers)).status_code == 401


async def test_a_redis_session_slides_while_it_is_used(dsn, redis_url):
    async with serve(config(dsn, redis_url, sessions="redis", session_ttl_s=2)) as (app, client):
        headers = await login(client)
        for _ in range(4):  # 4 × 0.8 s > the 2 s TTL, but each use renews it
            await asyncio.sleep(0.8)
            assert (await client.get("/api/v1/incidents", headers=headers)).status_code == 200


async def test_jwt_logout_holds_while_redis_is_down(dsn, private_redis):
    async with serve(config(dsn, private_redis.url, sessions="jwt")) as (app, client):
        headers = await login(client)
        private_redis.stop()
        assert (await client.get("/api/v1/incidents", headers=headers)).status_code == 200  # the API still answers
        await client.post("/api/v1/auth/logout", headers=headers)
        assert (await client.get("/api/v1/incidents", headers=headers)).status_code == 401


@pytest.mark.parametrize("headers, message", [
    ({}, "Authorization: Bearer"),
    ({"Authorization": "Bearer not-a-token"}, "invalid token"),
    ({"Authorization": "Basic dXNlcjpwYXNz"}, "Authorization: Bearer"),
])
async def test_a_bad_token_is_a_401_with_a_message(dsn, redis_url, headers, message):
    async with serve(config(dsn, redis_url)) as (app, client):
        reply = await client.get("/api/v1/incidents", headers=headers)
        assert reply.status_code == 401 and message in reply.json()["detail"]


async def test_wrong_password_is_a_401(dsn, redis_url):
    async with serve(config(dsn, redis_url)) as (app, client):
        reply = await client.post("/api/v1/auth/login", json={"username": user().username, "password": "nope"})
        assert reply.status_code == 401 and "password" in reply.json()["detail"]


async def test_the_rate_limit_is_exact_under_50_concurrent_requests(dsn, redis_url):
    async with serve(config(dsn, redis_url, ratelimit="on", ratelimit_per_min=20)) as (app, client):
        headers = await login(client, tenant_id=2)
        replies = await asyncio.gather(*(client.get("/api/v1/incidents/1", headers=headers) for _ in range(50)))
        codes = [r.status_code for r in replies]
        assert codes.count(429) == 30 and len(codes) - codes.count(429) == 20
        refused = next(r for r in replies if r.status_code == 429)
        assert 1 <= int(refused.headers["Retry-After"]) <= 60 and "rate limit" in refused.json()["detail"]
        assert metric(app, "sentinel_ratelimit_rejected_total") == 30
        other = await client.get("/api/v1/incidents", headers=headers)  # another endpoint has its own budget
        assert other.status_code == 200


async def test_rate_limit_keys_expire_with_their_window(dsn, redis_url):
    import redis

    async with serve(config(dsn, redis_url, ratelimit="on", ratelimit_per_min=5)) as (app, client):
        headers = await login(client, tenant_id=3)
        await client.get("/api/v1/incidents", headers=headers)
    r = redis.Redis.from_url(redis_url)
    keys = r.keys("sentinel:ratelimit:*")
    assert keys and all(0 < r.pttl(k) <= 60_000 for k in keys)
