"""Reconciling the tasks a worker ran with the tasks its metrics counted: both directions, every type."""
from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timezone

from analysis.collect import celery
from analysis.collect.logs import LogFiles

T0, T1 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc), datetime(2026, 1, 1, 12, 1, tzinfo=timezone.utc)


def test_missed_and_phantom_tasks_are_both_counted_never_netted_or_clipped():
    ran = Counter({("a", "succeeded"): 10, ("b", "succeeded"): 4, ("b", "failed"): 1})
    count = Counter({("a", "succeeded"): 12, ("b", "succeeded"): 2})  # a: 2 phantom; b: 2 + 1 missed
    found = celery.reconcile(ran, count)
    assert (found.compared, found.missed, found.phantom, found.unaccounted) == (15, 3, 2, 5)
    assert celery.reconcile(ran, ran).unaccounted == 0


def test_a_counter_that_fell_stays_negative_and_shows_as_missed():
    rise = celery.increase(Counter({("a", "succeeded"): 50}), Counter({("a", "succeeded"): 3}))
    assert rise[("a", "succeeded")] == -47
    assert celery.reconcile(Counter({("a", "succeeded"): 3}), rise).missed == 50


def test_finished_tasks_come_from_the_worker_log_lines_with_their_run_time(tmp_path):
    lines = [
        {"timestamp": "2026-01-01T12:00:10.000+00:00", "level": "INFO", "message": "task a finished: SUCCESS",
         "task": "a", "status": "SUCCESS", "duration_ms": 2.5},
        {"timestamp": "2026-01-01T12:00:20.000+00:00", "level": "WARNING", "message": "task b finished: RETRY",
         "task": "b", "status": "RETRY", "duration_ms": 9.0},
        {"timestamp": "2026-01-01T12:00:30.000+00:00", "level": "INFO", "message": "worker starting"},
        {"timestamp": "2026-01-01T12:02:00.000+00:00", "level": "INFO", "message": "task a finished: SUCCESS",
         "task": "a", "status": "SUCCESS", "duration_ms": 1.0},  # after the window
    ]
    (tmp_path / "worker.log").write_text("".join(json.dumps(r) + "\n" for r in lines))
    done = celery.finished(LogFiles(tmp_path), T0, T1)
    assert list(done["state"]) == ["succeeded", "retried"] and list(done["duration_ms"]) == [2.5, 9.0]
    assert celery.tally(done) == Counter({("a", "succeeded"): 1, ("b", "retried"): 1})
