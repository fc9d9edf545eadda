"""A task delivered again (its worker was killed before acknowledging it) has its effect once."""
from __future__ import annotations

import uuid

import psycopg
import pytest

from stack.api.db import apply_schema
from stack.worker import tasks
from stack.worker.app import celery_app

pytestmark = pytest.mark.integration


@pytest.fixture
def events_db(pg_dsn, monkeypatch):
    name = f"redeliver_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    dsn = pg_dsn.rsplit("/", 1)[0] + f"/{name}"
    apply_schema(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO tenants (id, name) VALUES (1, 'acme')")
        conn.execute("INSERT INTO incidents (tenant_id, service, severity, status, opened_at, title) "
                     "VALUES (1, 'billing', 'high', 'open', now(), 'a')")
    monkeypatch.setenv("DATABASE_URL", dsn)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # the counter is best effort: unreachable is fine
    tasks.config.cache_clear()
    monkeypatch.setattr(tasks, "_conn", None)
    monkeypatch.setattr(tasks, "_redis", None)
    yield dsn
    tasks.config.cache_clear()
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


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
