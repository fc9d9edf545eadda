"""The remediator acts only on allow-listed actions, fixed by policy, and audits every decision."""
from __future__ import annotations

import asyncio
import os
import signal

import httpx
import pytest
import redis
from remediator_support import ALERTMANAGER, N8N, alert_token_file, firing as _firing, supervised_api  # noqa: F401
from remediator_support import client as _client

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
def cached(redis_url):
    client = redis.Redis.from_url(redis_url)
    client.set("sentinel:cache:dashboard:1", "x")
    client.set("unrelated:key", "keep")
    yield client
    client.delete("sentinel:cache:dashboard:1", "unrelated:key")


async def test_an_alert_with_a_rule_runs_its_action_and_is_audited(redis_url, cached, alert_token_file):
    async with _client(redis_url, alert_token_file=alert_token_file) as c:
        r = await c.post("/alerts", json=_firing("CacheServingStale"), headers=ALERTMANAGER)
        audit = (await c.get("/audit")).json()
    assert r.status_code == 200
    assert r.json()["handled"][0]["outcome"] == "done"
    assert cached.get("sentinel:cache:dashboard:1") is None and cached.get("unrelated:key") == b"keep"
    assert audit[-1]["action"] == "flush_cache" and audit[-1]["alert"] == "CacheServingStale"


async def test_dry_run_decides_but_changes_nothing(redis_url, cached, alert_token_file):
    async with _client(redis_url, mode="dry-run", alert_token_file=alert_token_file) as c:
        r = await c.post("/alerts", json=_firing("CacheServingStale"), headers=ALERTMANAGER)
    assert r.json()["handled"][0]["outcome"] == "skipped"
    assert cached.get("sentinel:cache:dashboard:1") == b"x"


async def test_an_alert_without_a_rule_is_only_recorded(redis_url, alert_token_file):
    async with _client(redis_url, alert_token_file=alert_token_file) as c:
        r = await c.post("/alerts", json=_firing("SomethingNew"), headers=ALERTMANAGER)
    entry = r.json()["handled"][0]
    assert entry["action"] == "record_only" and entry["why"] == "no rule for this alert"


async def test_a_second_alert_within_the_cooldown_is_not_acted_on(redis_url, cached, alert_token_file):
    async with _client(redis_url, alert_token_file=alert_token_file) as c:
        first = (await c.post("/alerts", json=_firing("CacheServingStale"), headers=ALERTMANAGER)).json()["handled"][0]
        other = _firing("CacheServingStale")
        other["alerts"][0]["startsAt"] = "2026-12-02T10:00:00Z"  # another episode of the alert
        second = (await c.post("/alerts", json=other, headers=ALERTMANAGER)).json()["handled"][0]
    assert first["outcome"] == "done" and second["outcome"] == "skipped"
    assert "cooldown" in second["why"]


async def test_a_name_outside_the_allow_list_is_refused_and_audited(redis_url):
    async with _client(redis_url) as c:
        r = await c.post("/actions/shell", json={"params": {"cmd": "rm -rf /"}}, headers=N8N)
        audit = (await c.get("/audit")).json()
    assert r.status_code == 403 and "not an allow-listed action" in r.json()["detail"]
    assert audit[-1]["outcome"] == "refused" and audit[-1]["action"] == "shell"


async def test_restart_refuses_a_service_outside_the_allow_list(redis_url):
    async with _client(redis_url) as c:
        r = await c.post("/actions/restart_service", json={"params": {"service": "postgres"}}, headers=N8N)
    assert r.status_code == 422 and "not a rule of the policy" in r.json()["detail"]


async def test_direct_actions_need_the_token(redis_url):
    async with _client(redis_url, token=None) as c:
        assert (await c.post("/actions/flush_cache", json={})).status_code == 404
    async with _client(redis_url) as c:
        r = await c.post("/actions/flush_cache", json={}, headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401


async def test_a_malformed_webhook_is_a_4xx(redis_url, alert_token_file):
    async with _client(redis_url, alert_token_file=alert_token_file) as c:
        assert (await c.post("/alerts", content=b"{not json", headers=ALERTMANAGER)).status_code == 422
        assert (await c.post("/alerts", json={"alerts": "nope"}, headers=ALERTMANAGER)).status_code == 422


async def test_an_unauthenticated_alert_gets_401_and_is_audited(redis_url, alert_token_file, cached):
    async with _client(redis_url, alert_token_file=alert_token_file) as c:
        anonymous = await c.post("/alerts", json=_firing("CacheServingStale"))
        forged = await c.post("/alerts", json=_firing("CacheServingStale"), headers={"Authorization": "Bearer guess"})
        garbage = await c.post("/alerts", content=b"{not json")
        audit = (await c.get("/audit")).json()
    assert [r.status_code for r in (anonymous, forged, garbage)] == [401, 401, 401]
    assert [e["outcome"] for e in audit] == ["refused"] * 3 and all(e["source"] == "alertmanager" for e in audit)
    assert cached.get("sentinel:cache:dashboard:1") == b"x", "a refused alert changed nothing"


async def test_without_a_token_file_every_alert_is_refused(redis_url):
    async with _client(redis_url) as c:
        r = await c.post("/alerts", json=_firing("CacheServingStale"), headers={"Authorization": "Bearer "})
    assert r.status_code == 401 and "REMEDIATOR_ALERT_TOKEN_FILE" in r.json()["detail"]


async def test_a_direct_action_takes_only_the_parameters_the_policy_fixes(redis_url):
    async with _client(redis_url, mode="dry-run") as c:
        other = await c.post("/actions/restart_service", json={"params": {"service": "nginx"}}, headers=N8N)
        extra = await c.post("/actions/flush_cache", json={"params": {"match": "*"}}, headers=N8N)
        fixed = await c.post("/actions/restart_service", json={"params": {"service": "api"}}, headers=N8N)
        audit = (await c.get("/audit")).json()
    assert other.status_code == 422 and "{'service': 'api'}" in other.json()["detail"]
    assert extra.status_code == 422
    assert fixed.status_code == 200 and fixed.json()["outcome"] == "skipped"
    assert [e["outcome"] for e in audit] == ["refused", "refused", "skipped"]


async def test_direct_actions_and_alerts_share_the_policy_cooldown(redis_url, alert_token_file, cached):
    async with _client(redis_url, alert_token_file=alert_token_file) as c:
        first = await c.post("/actions/flush_cache", json={}, headers=N8N)
        again = await c.post("/actions/flush_cache", json={}, headers=N8N)
        alert = (await c.post("/alerts", json=_firing("CacheServingStale"), headers=ALERTMANAGER)).json()["handled"][0]
        audit = (await c.get("/audit")).json()
    assert first.status_code == 200 and first.json()["outcome"] == "done"
    assert again.status_code == 429 and "cooldown" in again.json()["detail"]
    assert alert["outcome"] == "skipped" and "cooldown" in alert["why"]
    assert audit[1]["outcome"] == "refused"


async def test_a_refused_token_on_actions_is_audited(redis_url):
    async with _client(redis_url) as c:
        r = await c.post("/actions/flush_cache", json={}, headers={"Authorization": "Bearer wrong"})
        audit = (await c.get("/audit")).json()
    assert r.status_code == 401 and audit[-1]["outcome"] == "refused" and audit[-1]["source"] == "api"


async def test_restart_starts_a_crashed_service_off_the_event_loop(redis_url, alert_token_file, supervised_api):
    rpc = supervised_api.rpc
    rpc.startProcess("api", True)
    os.kill(rpc.getProcessInfo("api")["pid"], signal.SIGKILL)
    while rpc.getProcessInfo("api")["statename"] == "RUNNING":
        await asyncio.sleep(0.05)
    assert rpc.getProcessInfo("api")["statename"] == "EXITED"
    finished: list[str] = []
    async with _client(redis_url, alert_token_file=alert_token_file,
                       SUPERVISOR_SOCK=str(supervised_api.sock)) as c:
        async def restart():
            r = await c.post("/alerts", json=_firing("ApiErrorMode"), headers=ALERTMANAGER)
            finished.append("restart")
            return r

        async def health():
            await asyncio.sleep(0.1)  # the restart is under way (it takes startsecs=1 to report RUNNING)
            r = await c.get("/health")
            finished.append("health")
            return r

        restarted, healthy = await asyncio.gather(restart(), health())
    entry = restarted.json()["handled"][0]
    assert entry["outcome"] == "done", entry["detail"]
    assert entry["detail"] == "started api (it was EXITED)"
    assert rpc.getProcessInfo("api")["statename"] == "RUNNING"
    assert healthy.status_code == 200 and finished == ["health", "restart"], "the event loop was blocked"


def test_alertmanager_reaches_the_remediator_with_its_token_and_a_forged_alert_does_not(lab_stack):
    """End to end on the local stack: Alertmanager's webhook carries the token from its 0600 file."""
    import time

    s = lab_stack.settings
    token_file = s.run_dir / "secrets" / "alert_token"
    assert token_file.stat().st_mode & 0o077 == 0, "the token file is readable by others"
    name = f"LabE2E{int(time.time() * 1000)}"  # no policy rule: recorded only, nothing changes
    alert = [{"labels": {"alertname": name, "service": "api"}, "annotations": {}}]
    assert httpx.post(f"{s.url('alertmanager')}/api/v2/alerts", json=alert, timeout=5).status_code == 200
    forged = httpx.post(f"{s.url('remediator')}/alerts", json=_firing(name), timeout=5)
    assert forged.status_code == 401
    deadline = time.monotonic() + 60  # group_wait is 2 s; a generous bound for a loaded machine
    while time.monotonic() < deadline:
        audit = [e for e in httpx.get(f"{s.url('remediator')}/audit", timeout=5).json()
                 if e["alert"] == name or (e["outcome"] == "refused" and e["source"] == "alertmanager")]
        if any(e["alert"] == name for e in audit):
            break
        time.sleep(0.5)
    assert [e["outcome"] for e in audit if e["alert"] == name][:1] == ["skipped"], audit
    assert any(e["outcome"] == "refused" for e in audit), "the forged alert was audited"
