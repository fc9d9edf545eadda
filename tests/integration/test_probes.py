"""The probes against the real local stack: each measures what its pattern's claim is about."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime, timezone

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


def test_with_the_cache_on_a_dashboard_read_after_a_write_is_never_stale(seeded):
    values = _run(StaleReads(interval_s=0.2), _arm(seeded, SENTINEL_CACHE="on"), 4)
    assert values["stale_checks"][0] >= 5
    assert values["stale_reads"][0] == 0


def test_the_rate_limit_admits_exactly_the_limit_from_a_concurrent_burst(seeded):
    limited = RateLimitBurst(margin=60, concurrency=30).finish(
        _arm(seeded, SENTINEL_RATELIMIT="on", SENTINEL_RATELIMIT_PER_MIN="50"))
    assert limited["admitted_over_limit"][0] == 0
    assert limited["burst_admitted"][0] == 50 and limited["burst_rejected"][0] == 60
    unlimited = RateLimitBurst(margin=60, concurrency=30).finish(_arm(seeded, SENTINEL_RATELIMIT="off"))
    assert unlimited["admitted_over_limit"][0] == 60  # the baseline lets the whole margin through


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
