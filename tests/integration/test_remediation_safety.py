"""P3 safety, measured: repeated and flapping alerts, hostile inputs, actions that do not cure.

Restarts are counted from supervisord's own log (``spawned: 'api'``), flushes from the keys that
really disappeared: the remediator's word (its audit) is checked against what happened.
"""
from __future__ import annotations

import asyncio
import os
import signal
import uuid
from pathlib import Path

import pytest
import redis
from remediator_support import (ALERTMANAGER, N8N, alert_token_file, client, firing, settled_spawns,  # noqa: F401
                                spawns, supervised_api)

from stack.remediator.app import MAX_BODY_BYTES
from stack.remediator.policy import Policy

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
CANARY = Path("/tmp") / f"remediator-canary-{uuid.uuid4().hex}"


async def _restart_counts(redis_url, token_file, sup, payloads, **env) -> tuple[int, list[dict]]:
    rpc = sup.rpc
    rpc.startProcess("api", True)
    before = spawns(sup)
    async with client(redis_url, alert_token_file=token_file, SUPERVISOR_SOCK=str(sup.sock), **env) as c:
        for body in payloads:
            assert (await c.post("/alerts", json=body, headers=ALERTMANAGER)).status_code == 200
        audit = (await c.get("/audit")).json()
    return await _settled_spawns(sup) - before, audit


async def _settled_spawns(sup) -> int:
    """supervisord's settled spawn count (remediator_support.settled_spawns), off the event loop."""
    return await asyncio.to_thread(settled_spawns, sup)


async def test_a_hundred_repeats_of_one_firing_restart_the_service_once(redis_url, alert_token_file, supervised_api):
    """Alertmanager's repeat_interval shorter than the cooldown: every repeat is the same episode."""
    repeats = [firing("ApiErrorMode", "2026-12-02T10:00:00Z", "fp-api")] * 100
    restarts, audit = await _restart_counts(redis_url, alert_token_file, supervised_api, repeats)
    assert restarts == 1
    assert [e["outcome"] for e in audit[-100:]].count("done") == 1
    assert {e["outcome"] for e in audit[-99:]} == {"skipped"} and all(e["fingerprint"] == "fp-api" for e in audit[-99:])


async def test_a_hundred_new_episodes_within_the_cooldown_restart_the_service_once(
        redis_url, alert_token_file, supervised_api):
    episodes = [firing("ApiErrorMode", f"2026-12-02T10:00:{i // 10:02d}.{i % 10}Z") for i in range(100)]
    restarts, audit = await _restart_counts(redis_url, alert_token_file, supervised_api, episodes)
    assert restarts == 1 and sum(e["outcome"] == "done" for e in audit) == 1
    assert sum("cooldown" in e["why"] for e in audit) == 99


async def test_positive_control_without_a_cooldown_every_episode_restarts(redis_url, alert_token_file, supervised_api):
    """The counter sees double restarts when the guard lets them through."""
    episodes = [firing("ApiErrorMode", f"2026-12-02T10:00:0{i}Z") for i in range(3)]
    restarts, _ = await _restart_counts(redis_url, alert_token_file, supervised_api, episodes,
                                        REMEDIATOR_COOLDOWN_S="0", REMEDIATOR_BUDGET_PER_H="100")
    assert restarts == 3


async def _flaps(redis_url, token_file, n: int, **env) -> tuple[int, list[dict]]:
    """``n`` episodes of a flapping cache alert, each after the cooldown; a poisoned key before each."""
    r = redis.Redis.from_url(redis_url)
    flushed = 0
    async with client(redis_url, alert_token_file=token_file, REMEDIATOR_COOLDOWN_S="0.01", **env) as c:
        for i in range(n):
            r.set("sentinel:cache:dashboard:flap", "poison")
            await asyncio.sleep(0.02)
            body = firing("DashboardCachePoisoned", f"2026-12-02T11:00:{i:02d}Z", "fp-cache")
            assert (await c.post("/alerts", json=body, headers=ALERTMANAGER)).status_code == 200
            flushed += r.get("sentinel:cache:dashboard:flap") is None
        audit = (await c.get("/audit")).json()
    r.delete("sentinel:cache:dashboard:flap")
    return flushed, audit


async def test_a_flapping_alert_spends_its_hourly_budget_then_pages(redis_url, alert_token_file):
    flushed, audit = await _flaps(redis_url, alert_token_file, 10, REMEDIATOR_BUDGET_PER_H="3")
    assert flushed == 3
    assert [e["outcome"] for e in audit] == ["done"] * 3 + ["escalated"] * 7
    assert all("budget spent" in e["why"] and "page a person" in e["why"] for e in audit[3:])


async def test_positive_control_a_larger_budget_lets_every_flap_act(redis_url, alert_token_file):
    flushed, audit = await _flaps(redis_url, alert_token_file, 10, REMEDIATOR_BUDGET_PER_H="100")
    assert flushed == 10 and [e["outcome"] for e in audit] == ["done"] * 10


def _hostile() -> list[tuple[str, bytes | dict]]:
    shell = f"$(touch {CANARY}); `touch {CANARY}`; touch {CANARY} #"
    return [
        ("shell in the alert name", firing(f"ApiErrorMode; {shell}")),
        ("shell in labels", firing("SomethingNew", service=shell, action=shell, command=shell)),
        ("path traversal in the service", firing("SomethingNew", service="../../../../etc/passwd")),
        ("an unknown service", firing("WorkerDown2", service="postgres")),
        ("an action name in a label", firing("SomethingNew", action="shell", params="rm -rf /")),
        ("shell in annotations", {**firing("SomethingNew"), "alerts": [
            {**firing("SomethingNew")["alerts"][0], "annotations": {"runbook": shell, "action": "flush_cache"}}]}),
        ("a huge payload", b'{"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": '
                           b'{"alertname": "' + b"A" * (MAX_BODY_BYTES + 10) + b'"}}]}'),
        ("too many alerts", {"version": "4", "status": "firing",
                             "alerts": [firing("SomethingNew")["alerts"][0]] * 501}),
        ("a label that is not a string", {"version": "4", "status": "firing",
                                          "alerts": [{"status": "firing", "labels": {"alertname": {"$ne": 1}}}]}),
    ]


async def test_hostile_alerts_and_calls_cause_no_action_outside_the_allow_list(redis_url, alert_token_file,
                                                                                 supervised_api):
    policy = Policy.load()
    allowed = {(r.action, tuple(sorted(r.params.items()))) for r in policy.rules.values()} | {("record_only", ())}
    rpc = supervised_api.rpc
    rpc.startProcess("api", True)
    before = spawns(supervised_api)
    statuses = []
    async with client(redis_url, alert_token_file=alert_token_file, SUPERVISOR_SOCK=str(supervised_api.sock)) as c:
        for _, body in _hostile():
            r = await (c.post("/alerts", content=body, headers={**ALERTMANAGER, "Content-Type": "application/json"})
                       if isinstance(body, bytes) else c.post("/alerts", json=body, headers=ALERTMANAGER))
            statuses.append(r.status_code)
        for name, params in (("shell", {"cmd": "rm -rf /"}), ("restart_service", {"service": "../../etc"}),
                             ("restart_service", {"service": "postgres"}), ("restart_service", {"service": "api;id"}),
                             ("flush_cache", {"match": "*"}), ("..%2frestart_service", {}),
                             ("constructor", {}), ("__proto__", {})):
            r = await c.post(f"/actions/{name}", json={"params": params, "reason": "$(reboot)"}, headers=N8N)
            statuses.append(r.status_code)
        audit = (await c.get("/audit")).json()
    acted = [e for e in audit if e["outcome"] == "done"]
    assert all((e["action"], tuple(sorted(e["params"].items()))) in allowed for e in acted)
    assert await _settled_spawns(supervised_api) == before, "a hostile input restarted a service"
    assert not CANARY.exists(), "a hostile input ran a shell command"
    refused = [s for s in statuses if s >= 400 and s != 422]  # 422: refused by the schema before any decision
    assert sum(e["outcome"] == "refused" for e in audit) >= len(refused) > 0
    assert all(s < 500 for s in statuses), statuses
    assert statuses[6] == 413 and any("bytes" in e["detail"] for e in audit if e["outcome"] == "refused")


async def test_an_action_that_does_not_cure_is_escalated_once_and_never_repeated(
        redis_url, alert_token_file, supervised_api):
    """The restart works but the fault persists: Alertmanager keeps re-sending the same episode."""
    episode = firing("ApiErrorMode", "2026-12-02T12:00:00Z", "fp-stuck")
    rpc = supervised_api.rpc
    rpc.startProcess("api", True)
    before = spawns(supervised_api)
    async with client(redis_url, alert_token_file=alert_token_file, SUPERVISOR_SOCK=str(supervised_api.sock),
                      REMEDIATOR_COOLDOWN_S="0.3") as c:
        outcomes = []
        for _ in range(3):  # repeats within the time the action is given: awaiting its effect
            outcomes.append((await c.post("/alerts", json=episode, headers=ALERTMANAGER)).json()["handled"][0])
        await asyncio.sleep(0.4)
        for _ in range(20):  # still firing after it: not cured
            outcomes.append((await c.post("/alerts", json=episode, headers=ALERTMANAGER)).json()["handled"][0])
            await asyncio.sleep(0.02)
    kinds = [e["outcome"] for e in outcomes]
    assert kinds[0] == "done" and kinds[1:3] == ["skipped", "skipped"]
    assert kinds[3] == "escalated" and "not cured" in outcomes[3]["why"]
    assert kinds[4:] == ["skipped"] * 19 and await _settled_spawns(supervised_api) - before == 1


async def test_positive_control_an_alert_that_resolves_is_never_escalated(redis_url, alert_token_file,
                                                                          supervised_api):
    rpc = supervised_api.rpc
    rpc.startProcess("api", True)
    os.kill(rpc.getProcessInfo("api")["pid"], signal.SIGKILL)
    async with client(redis_url, alert_token_file=alert_token_file, SUPERVISOR_SOCK=str(supervised_api.sock),
                      REMEDIATOR_COOLDOWN_S="0.1") as c:
        first = (await c.post("/alerts", json=firing("ApiErrorMode", "2026-12-02T13:00:00Z"),
                              headers=ALERTMANAGER)).json()["handled"][0]
        resolved = firing("ApiErrorMode", "2026-12-02T13:00:00Z")
        resolved["alerts"][0]["status"] = resolved["status"] = "resolved"
        await asyncio.sleep(0.2)
        after = (await c.post("/alerts", json=resolved, headers=ALERTMANAGER)).json()["handled"]
        audit = (await c.get("/audit")).json()
    assert first["outcome"] == "done" and after == [] and [e["outcome"] for e in audit] == ["done"]
