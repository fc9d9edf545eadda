"""A task delivered again (its worker was killed before acknowledging it) has its effect once."""
from __future__ import annotations

import psycopg
import pytest

from stack.worker import tasks
from stack.worker.app import celery_app

pytestmark = pytest.mark.integration


@pytest.fixture
def events_db(worker_db, monkeypatch):
    """The shared worker database, with this process's task module pointed at it."""
    monkeypatch.setenv("DATABASE_URL", worker_db)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # the counter is best effort: unreachable is fine
    tasks.config.cache_clear()
    monkeypatch.setattr(tasks, "_conn", None)
    monkeypatch.setattr(tasks, "_redis", None)
    yield worker_db
    tasks.config.cache_clear()


def test_a_redelivered_incident_task_records_its_event_once_and_a_new_task_records_another(events_db):
    with psycopg.connect(events_db) as conn:
        incident = conn.execute("SELECT id FROM incidents").fetchone()[0]
    first = tasks.incident_created.apply(args=(incident, 1), task_id="task-a").get()
    again = tasks.incident_created.apply(args=(incident, 1), task_id="task-a").get()  # the same message again
    other = tasks.incident_created.apply(args=(incident, 1), task_id="task-b").get()  # a second, distinct send
    with psycopg.connect(events_db) as conn:
        events = conn.execute("SELECT count(*) FROM incident_events WHERE kind = 'created'").fetchone()[0]
    assert first == again and other != first and events == 2


def test_the_worker_acknowledges_late_and_redelivers_within_its_visibility_timeout():
    conf = celery_app.conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.task_time_limit < conf.broker_transport_options["visibility_timeout"]
