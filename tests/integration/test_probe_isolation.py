"""The lab's probes stay out of the workload's metrics: the same short API workload counts the same
application-role statements (``derive``'s ``pg_statements``, as a study computes it) with the stale-read
probe off and on, while the probe's own statements go to the probes' role."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest

from analysis.collect import celery as celery_collect
from analysis.collect import postgres
from analysis.experiment import derive
from analysis.probes import ProbeContext, StaleReads
from analysis.stack import toggles
from stack import lab_probe
from stack.api.seed import logins

pytestmark = pytest.mark.integration

REQUESTS = 60


@pytest.fixture(scope="module")
def seeded(lab_stack):
    env = {**os.environ, "DATABASE_URL": lab_stack.settings.database_url}
    subprocess.run([sys.executable, "-m", "stack.api.seed", "--scale", "small"], env=env, check=True,
                   capture_output=True)
    lab_stack.apply(toggles.defaults())  # the cache off: every dashboard read runs its statements
    return lab_stack


def _workload(settings) -> None:
    """``REQUESTS`` dashboard reads as a seeded user of tenant 2 (never the probe tenant)."""
    user = next(u for u in logins("small") if u.tenant_id == 2)
    with httpx.Client(base_url=settings.url("nginx"), timeout=30) as client:
        r = client.post("/api/v1/auth/login", json={"username": user.username, "password": user.password})
        client.headers["Authorization"] = f"Bearer {r.raise_for_status().json()['access_token']}"
        for _ in range(REQUESTS):
            client.get(f"/api/v1/dashboard/{user.tenant_id}").raise_for_status()


def _statements(settings, during) -> tuple[float, float]:
    """(the application role's statements as a study counts them, the probes' role's) over ``during()``."""
    before = postgres.statements(settings.monitor_url)
    during()
    celery_collect.wait_drained(settings.redis_url)  # the tasks the writes enqueued ran, as whichever role
    delta = postgres.statements_delta(before, postgres.statements(settings.monitor_url))
    app = derive({"postgres": delta}, 1.0, None, settings.db_user).set_index("metric")["value"]["pg_statements"]
    calls = delta[(delta["metric"] == "calls") & (delta["user"] == settings.probe_db_user)]
    return float(app), float(calls["value"].sum())


def _wait_checks(probe: StaleReads, n: int) -> None:
    deadline = time.monotonic() + 60
    while probe.checked < n and probe.error is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert probe.error is None, probe.error
    assert probe.checked >= n, f"the stale-read probe made {probe.checked} checks in 60 s"


def test_the_workloads_statement_count_is_the_same_with_the_stale_read_probe_on(seeded):
    settings = seeded.settings
    assert settings.probe_db_user == lab_probe.DB_ROLE
    alone, probe_alone = _statements(settings, lambda: _workload(settings))

    probe = StaleReads(interval_s=0.05)
    ctx = ProbeContext(settings, toggles.defaults(), "small")
    probe.start(ctx)
    try:
        _wait_checks(probe, 1)  # logged in and looking before the window opens

        def beside():
            checked = probe.checked
            _workload(settings)
            _wait_checks(probe, checked + 5)
        probed, probe_own = _statements(settings, beside)
    finally:
        values = probe.finish(ctx)
    assert probe.error is None, probe.error
    assert values["stale_reads"][0] == 0

    # the probe's statements (two dashboards, a write, its task, a direct query per check) are its role's
    assert probe_own >= 5 * 5 and probe_alone == 0
    # the workload's count moved only by the background (beat's health snapshots), far less than the
    # probe's statements would add were they still the application role's
    assert alone >= 3 * REQUESTS
    assert abs(probed - alone) < probe_own / 4, (alone, probed, probe_own)
