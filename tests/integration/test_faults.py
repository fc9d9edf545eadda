"""Faults survived, measured on the session's local stack under Locust load: Redis stopped, the worker
SIGKILLed mid-task, Postgres restarted, one TruthSync instance killed. Short phases; assertions on counts."""
from __future__ import annotations

import psycopg
import pytest

from analysis import resilience
from analysis.resilience import Timing

# four faults under load, each with its toggles applied first: minutes on a busy shared machine
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]
SHORT = Timing(before_s=2, redis_down_s=4, worker_down_s=1, after_s=5, users=3)


@pytest.fixture(scope="module")
def rows(lab_stack):
    rows = resilience.run_all(lab_stack, t=SHORT)
    print(resilience.table(rows).to_string())  # shown with -rA: the figures of this run
    return {r.fault: r for r in rows}


def test_every_fault_loses_no_acknowledged_write(rows):
    assert set(rows) == set(resilience.FAULTS)
    for r in rows.values():
        assert r.requests > 0 and r.writes > 0, r
        assert r.data_lost == 0, r


def test_with_redis_stopped_the_api_and_truthsync_answer_from_postgres_and_refill_their_caches(rows):
    r = rows["redis-stop"]
    assert r.error_share < 0.01, r
    refilled = int(r.note.split("caches refilled: ")[1].split()[0])
    assert refilled > 0, r.note


def test_a_worker_killed_mid_task_loses_no_task_and_runs_none_twice(rows):
    r = rows["worker-kill"]
    assert r.data_lost == 0 and f"{r.writes} of {r.writes} tasks ran, 0 ran twice" in r.note, r


def test_after_a_postgres_restart_errors_stop_while_the_load_still_runs(rows):
    """The services reconnect by themselves: the last failed request comes before the load's last
    seconds (recovery below the after-phase is a property of the run's own phases, not a wall-clock bound)."""
    r = rows["postgres-restart"]
    assert r.recovery_s < SHORT.after_s - 1, r


def test_nginx_routes_around_a_killed_truthsync_instance(rows):
    r = rows["truthsync-kill"]
    assert r.error_share < 0.01, r


def test_the_data_lost_count_sees_a_missing_write_and_a_task_run_twice(lab_stack, rows):
    """Positive control: the count that must be 0 above sees a write that is not stored, and a second effect."""
    s = lab_stack.settings
    with psycopg.connect(s.database_url, autocommit=True) as conn:
        incident = conn.execute("SELECT incident_id FROM incident_events WHERE kind = 'created' "
                                "ORDER BY id DESC LIMIT 1").fetchone()[0]
        missing = conn.execute("SELECT max(id) + 1000 FROM incidents").fetchone()[0]
        conn.execute("INSERT INTO incident_events (incident_id, kind, detail) VALUES (%s, 'created', '{}')",
                     (incident,))
    lost, note = resilience._data_lost(s, "worker-kill", [incident, missing], Timing(redelivery_s=0))
    assert lost == 3 and "1 of 2 tasks ran, 1 ran twice" in " ".join(note)  # missing incident, its event, a double
