"""The probes against the real local stack: each measures what its pattern's claim is about."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime, timezone

import httpx
import pytest

from analysis.probes import CeleryTasks, NotifyLatency, ProbeContext, RateLimitBurst, StaleReads
from analysis.stack import toggles

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def seeded(lab_stack):
    env = {**os.environ, "DATABASE_URL": lab_stack.settings.database_url}
    subprocess.run([sys.executable, "-m", "stack.api.seed", "--scale", "small"], env=env, check=True,
                   capture_output=True)
    yield lab_stack
    lab_stack.apply(toggles.defaults())


def _arm(stack, **values) -> ProbeContext:
    stack.apply({**toggles.defaults(), **values})
    return ProbeContext(stack.settings, {**toggles.defaults(), **values}, "small")


def _run(probe, ctx, seconds: float):
    probe.start(ctx)
    time.sleep(seconds)
    values = probe.finish(ctx)
    assert probe.error is None, probe.error
    return values


def _five_checks(probe: StaleReads, ctx) -> dict:
    """Run the stale-read probe until it made five checks (a count, not a time: the machine is shared)."""
    probe.start(ctx)
    deadline = time.monotonic() + 180
    while probe.checked < 5 and probe.error is None and time.monotonic() < deadline:
        time.sleep(0.2)
    values = probe.finish(ctx)
    assert probe.error is None, probe.error
    return values


def test_with_the_cache_on_a_dashboard_read_after_a_write_is_never_stale(seeded):
    values = _five_checks(StaleReads(interval_s=0.2), _arm(seeded, SENTINEL_CACHE="on"))
    assert values["stale_checks"][0] >= 5
    assert values["stale_reads"][0] == 0


def _burst(ctx, probes: int = 1) -> list[RateLimitBurst]:
    bursts = [RateLimitBurst(margin=10, concurrency=10) for _ in range(probes)]
    for probe in bursts:
        probe.start(ctx)
    for probe in bursts:
        probe.values_seen = probe.finish(ctx)
    return bursts


LIMIT = {"SENTINEL_RATELIMIT_PER_MIN": "20", "SENTINEL_RATELIMIT_WINDOW_S": "6"}


@pytest.mark.parametrize("mode, over", [("on", False), ("naive", True), ("racy", True), ("off", True)])
def test_the_burst_probe_counts_admissions_in_any_window_straddling_a_boundary(seeded, mode, over):
    (probe,) = _burst(_arm(seeded, SENTINEL_RATELIMIT=mode, **LIMIT))
    assert probe.error is None, probe.error
    values = probe.values_seen
    assert values["burst_sent"][0] == 1 + 2 * 30 and values["burst_admitted"][0] >= 20  # a clean window
    if over:  # naive: the second burst, past the fixed window, gets a whole new limit (up to 2 × 20 - 1
        # within 6 s when the first burst ends before the boundary); racy: the concurrent burst; off: no limit
        assert values["admitted_over_limit"][0] > 0
    else:
        assert values["admitted_over_limit"][0] == 0


def test_a_burst_that_finds_its_window_used_is_not_measured(seeded):
    bursts = _burst(_arm(seeded, SENTINEL_RATELIMIT="naive", **LIMIT), probes=2)  # they share one key
    unclean = [p for p in bursts if p.error]
    assert unclean and all("window not clean" in p.error for p in unclean)
    assert all(set(p.values_seen) == {"burst_sent"} for p in unclean)


def test_a_cache_that_skips_invalidation_is_caught_serving_stale_dashboards(seeded):
    ctx = _arm(seeded, SENTINEL_CACHE="on")
    admin = {"Authorization": f"Bearer {seeded.settings.secret('admin_token')}"}
    with httpx.Client(base_url=seeded.settings.url("api"), headers=admin, timeout=10) as api:
        api.post("/api/v1/admin/faults", json={"skip_invalidation": True, "duration_s": 300}).raise_for_status()
        try:
            values = _five_checks(StaleReads(interval_s=0.2), ctx)
        finally:
            api.delete("/api/v1/admin/faults").raise_for_status()
    assert values["stale_checks"][0] >= 5
    assert values["stale_reads"][0] > 0


def test_a_probe_forced_to_fail_reports_no_judged_value_and_its_error(seeded, monkeypatch):
    ctx = _arm(seeded, SENTINEL_CACHE="on")
    monkeypatch.setenv("LAB_SECRET_PROBE_DB_PASSWORD", "not-the-password")  # the probe's settings are wrong
    probe = StaleReads(interval_s=0.2)
    probe.start(ctx)
    time.sleep(1)
    values = probe.finish(ctx)
    assert values == {"stale_checks": (0, "checks")}
    assert "password authentication failed" in probe.error


def test_pubsub_delivers_notifications_sooner_than_polling(seeded):
    polled = _run(NotifyLatency(every_s=0.3), _arm(seeded, SENTINEL_NOTIFY="poll"), 4)
    pushed = _run(NotifyLatency(every_s=0.3), _arm(seeded, SENTINEL_NOTIFY="pubsub"), 4)
    for values in (polled, pushed):
        assert values["notifications_sent"][0] >= 5 and values["notifications_missed"][0] == 0
    assert pushed["notify_p50_ms"][0] < polled["notify_p50_ms"][0]


def _celery(stack, mode: str, seconds: float = 3) -> dict:
    """The celery-tasks probe over a short window with the worker's metrics in ``mode``."""
    ctx, probe = _arm(stack, SENTINEL_CELERY_METRICS=mode), CeleryTasks(rate_per_s=20)
    probe.start(ctx)
    ctx.start = datetime.now(timezone.utc)
    time.sleep(seconds)
    ctx.end = datetime.now(timezone.utc)
    values = probe.finish(ctx)
    assert probe.error is None, probe.error
    return {name: value for name, (value, _) in values.items()} | {"differences": probe.found.differences}


def test_celery_metrics_count_every_task_and_the_probe_times_the_task_itself(seeded):
    counted = _celery(seeded, "on")
    assert counted["tasks_enqueued_by_probe"] >= 30 and counted["tasks_compared"] >= counted["tasks_enqueued_by_probe"]
    assert counted["tasks_unaccounted"] == 0, counted["differences"]
    assert counted["tasks_per_s"] >= 5 and 0 < counted["task_run_p50_ms"] <= counted["task_run_p95_ms"]


def test_positive_control_metrics_that_drop_or_duplicate_counts_leave_tasks_unaccounted_both_ways(seeded):
    dropped, duplicated = _celery(seeded, "drop"), _celery(seeded, "duplicate")
    assert dropped["tasks_missed"] > 0 and dropped["tasks_counted_not_run"] == 0
    assert duplicated["tasks_counted_not_run"] > 0 and duplicated["tasks_missed"] == 0
    for found in (dropped, duplicated):  # every 5th finished task per pool process is miscounted
        assert found["tasks_unaccounted"] >= found["tasks_compared"] // 10
