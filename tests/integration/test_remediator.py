"""The remediator acts only on allow-listed actions, fixed by policy, and audits every decision."""
from __future__ import annotations

import httpx
import pytest
import redis

from stack.remediator.app import create_app

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
TOKEN = "test-token"


def _client(redis_url: str, mode: str = "on", token: str | None = TOKEN) -> httpx.AsyncClient:
    env = {"REDIS_URL": redis_url, "REMEDIATOR_MODE": mode}
    if token:
        env["REMEDIATOR_TOKEN"] = token
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(env)), base_url="http://remediator")


def _firing(alertname: str) -> dict:
    return {"version": "4", "status": "firing",
            "alerts": [{"status": "firing", "labels": {"alertname": alertname, "service": "api"}}]}


@pytest.fixture
def cached(redis_url):
    client = redis.Redis.from_url(redis_url)
    client.set("sentinel:cache:dashboard:1", "x")
    client.set("unrelated:key", "keep")
    yield client
    client.delete("sentinel:cache:dashboard:1", "unrelated:key")


async def test_an_alert_with_a_rule_runs_its_action_and_is_audited(redis_url, cached):
    async with _client(redis_url) as c:
        r = await c.post("/alerts", json=_firing("CacheServingStale"))
        audit = (await c.get("/audit")).json()
    assert r.status_code == 200
    assert r.json()["handled"][0]["outcome"] == "done"
    assert cached.get("sentinel:cache:dashboard:1") is None and cached.get("unrelated:key") == b"keep"
    assert audit[-1]["action"] == "flush_cache" and audit[-1]["alert"] == "CacheServingStale"


async def test_dry_run_decides_but_changes_nothing(redis_url, cached):
    async with _client(redis_url, mode="dry-run") as c:
        r = await c.post("/alerts", json=_firing("CacheServingStale"))
    assert r.json()["handled"][0]["outcome"] == "skipped"
    assert cached.get("sentinel:cache:dashboard:1") == b"x"


async def test_an_alert_without_a_rule_is_only_recorded(redis_url):
    async with _client(redis_url) as c:
        r = await c.post("/alerts", json=_firing("SomethingNew"))
    entry = r.json()["handled"][0]
    assert entry["action"] == "record_only" and entry["why"] == "no rule for this alert"


async def test_a_second_alert_within_the_cooldown_is_not_acted_on(redis_url, cached):
    async with _client(redis_url) as c:
        first = (await c.post("/alerts", json=_firing("CacheServingStale"))).json()["handled"][0]
        second = (await c.post("/alerts", json=_firing("CacheServingStale"))).json()["handled"][0]
    assert first["action"] == "flush_cache" and second["action"] == "record_only"
    assert "cooldown" in second["why"]


async def test_a_name_outside_the_allow_list_is_refused_and_audited(redis_url):
    async with _client(redis_url) as c:
        r = await c.post("/actions/shell", json={"params": {"cmd": "rm -rf /"}},
                         headers={"Authorization": f"Bearer {TOKEN}"})
        audit = (await c.get("/audit")).json()
    assert r.status_code == 403 and "not an allow-listed action" in r.json()["detail"]
    assert audit[-1]["outcome"] == "refused" and audit[-1]["action"] == "shell"


async def test_restart_refuses_a_service_outside_the_allow_list(redis_url):
    async with _client(redis_url) as c:
        r = await c.post("/actions/restart_service", json={"params": {"service": "postgres"}},
                         headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 422 and "not restartable" in r.json()["detail"]


async def test_direct_actions_need_the_token(redis_url):
    async with _client(redis_url, token=None) as c:
        assert (await c.post("/actions/flush_cache", json={})).status_code == 404
    async with _client(redis_url) as c:
        r = await c.post("/actions/flush_cache", json={}, headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401


async def test_a_malformed_webhook_is_a_4xx(redis_url):
    async with _client(redis_url) as c:
        assert (await c.post("/alerts", content=b"{not json")).status_code == 422
        assert (await c.post("/alerts", json={"alerts": "nope"})).status_code == 422
