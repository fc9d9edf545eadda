"""TRUTHSYNC_INSTANCES on the running stack: with 1, traffic through Nginx reaches truthsync-1 alone; only
Nginx restarts; back at 0 every instance gets traffic again; more than the stack runs changes nothing."""
from __future__ import annotations

import httpx
import pytest

from analysis.stack import toggles

pytestmark = pytest.mark.integration

REQUESTS = 12  # round robin over two instances gives each 6; over one, all 12


def _verify_requests(settings, instance: str) -> float:
    """/verify requests ``instance`` has counted (its own /metrics, not through Nginx)."""
    text = httpx.get(f"{settings.url(instance)}/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("truthsync_requests_total{") and 'endpoint="/verify"' in line)


def _through_nginx(settings, instances: list[str]) -> dict[str, float]:
    before = {i: _verify_requests(settings, i) for i in instances}
    with httpx.Client(base_url=f"{settings.url('nginx')}/truthsync", timeout=10) as client:
        for k in range(REQUESTS):
            assert client.post("/verify", json={"text": f"I think routing test {k} is fine."}).status_code < 500
    return {i: _verify_requests(settings, i) - before[i] for i in instances}


def test_one_instance_routed_then_all_again(lab_stack):
    settings = lab_stack.settings
    instances = [f"truthsync-{i}" for i in range(1, settings.truthsync_instances + 1)]
    assert len(instances) >= 2, "the session stack must run at least two TruthSync instances"
    pids = {s.name: s.pid for s in lab_stack.status()}
    before = lab_stack.toggles()
    try:
        assert lab_stack.apply({"TRUTHSYNC_INSTANCES": "1"}) == ["nginx"]  # nothing else restarts
        assert {n: p for n, p in ((s.name, s.pid) for s in lab_stack.status()) if n != "nginx"} == \
            {n: p for n, p in pids.items() if n != "nginx"}
        seen = _through_nginx(settings, instances)
        assert seen["truthsync-1"] == REQUESTS and all(seen[i] == 0 for i in instances[1:]), seen

        with pytest.raises(toggles.ToggleError, match=f"LAB_TRUTHSYNC_INSTANCES={len(instances) + 1}"):
            lab_stack.apply({"TRUTHSYNC_INSTANCES": str(len(instances) + 1)})
        assert lab_stack.toggles()["TRUTHSYNC_INSTANCES"] == "1"  # refused before anything was written
    finally:
        lab_stack.apply({**toggles.defaults(), **before})
    seen = _through_nginx(settings, instances)
    assert sum(seen.values()) == REQUESTS and all(v > 0 for v in seen.values()), seen
