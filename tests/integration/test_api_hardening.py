"""The API's defences: authorization before existence, failed-login throttling, password hashes that get
stronger at login."""
from __future__ import annotations

import psycopg
import pytest
from api_support import config, login, seeded_database, serve, user

from stack.api.config import ApiConfig
from stack.api.login_guard import FAILURES
from stack.api.passwords import ITERATIONS, iterations_of

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def dsn(pg_dsn):
    return seeded_database(pg_dsn, "api_hardening")


def _stored_hash(dsn: str, username: str) -> str:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT password_hash FROM users WHERE username = %s", (username,)).fetchone()[0]


@pytest.mark.anyio
async def test_another_tenants_dashboard_is_403_whether_or_not_the_tenant_exists(dsn, redis_url):
    async with serve(config(dsn, redis_url)) as (app, client):
        headers = await login(client, tenant_id=1)
        existing = await client.get("/api/v1/dashboard/2", headers=headers)
        missing = await client.get("/api/v1/dashboard/99999", headers=headers)
        assert (existing.status_code, missing.status_code) == (403, 403)
        assert existing.json()["detail"] and missing.json()["detail"]
        assert (await client.get("/api/v1/dashboard/1", headers=headers)).status_code == 200


@pytest.mark.anyio
async def test_failed_logins_for_one_username_are_throttled_and_others_are_not(dsn, redis_url):
    victim, bystander = user(1, 1), user(1, 2)
    async with serve(config(dsn, redis_url)) as (app, client):
        wrong = {"username": victim.username, "password": "guess"}
        codes = [(await client.post("/api/v1/auth/login", json=wrong)).status_code for _ in range(FAILURES)]
        assert codes == [401] * FAILURES
        right = await client.post("/api/v1/auth/login", json={"username": victim.username,
                                                               "password": victim.password})
        assert right.status_code == 429 and int(right.headers["retry-after"]) > 0 and right.json()["detail"]
        other = await client.post("/api/v1/auth/login", json={"username": bystander.username,
                                                               "password": bystander.password})
        assert other.status_code == 200


@pytest.mark.anyio
async def test_a_weaker_hash_is_upgraded_at_the_next_successful_login(dsn, redis_url):
    who = user(2, 0)
    assert iterations_of(_stored_hash(dsn, who.username)) < 20_000
    async with serve(config(dsn, redis_url, password_iterations=20_000)) as (app, client):
        await login(client, tenant_id=2)
        assert iterations_of(_stored_hash(dsn, who.username)) == 20_000
        await login(client, tenant_id=2)  # the upgraded hash verifies


def test_new_hashes_use_owasps_2023_count_by_default():
    assert ITERATIONS == 600_000
    assert ApiConfig.from_env({"DATABASE_URL": "postgresql://x@h/d", "REDIS_URL": "redis://h/0"}).password_iterations \
        == ITERATIONS


@pytest.mark.anyio
async def test_values_postgres_cannot_store_are_a_422_with_a_message(dsn, redis_url):
    async with serve(config(dsn, redis_url)) as (app, client):
        headers = await login(client)
        replies = [
            await client.post("/api/v1/incidents", headers=headers,
                              json={"title": "nul\x00", "severity": "low", "service": "api"}),
            await client.post("/api/v1/incidents", headers=headers, content=b'{"title": "\\ud800", '
                              b'"severity": "low", "service": "api"}'),
            await client.post("/api/v1/auth/login", json={"username": "a\x00", "password": "x"}),
            await client.get("/api/v1/notifications", headers=headers, params={"after": 2**70}),
            await client.get(f"/api/v1/incidents/{2**70}", headers=headers),
        ]
        assert [r.status_code for r in replies] == [422] * len(replies), [r.text for r in replies]
        assert all(r.json()["detail"] for r in replies)
