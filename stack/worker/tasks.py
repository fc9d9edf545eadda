"""The worker's tasks. Each process keeps one Postgres connection and one Redis client, opened lazily.

A broken Postgres connection is dropped and the task retried, so a Postgres
restart costs a few retries, not a dead worker.
"""
from __future__ import annotations

import logging
import time
from functools import cache

import psycopg
import redis
from celery import signals
from psycopg.types.json import Jsonb

from stack import lab_probe
from stack.worker import tasklog  # noqa: F401  one timed log line per task
from stack.worker.app import CLEANUP, HEALTH_SNAPSHOT, INCIDENT_CREATED, OUTBOX_SWEEP, TENANT_REPORT, celery_app
from stack.worker.config import WorkerConfig
from stack.worker.queues import queue_lengths

log = logging.getLogger("stack.worker.tasks")

_conn: psycopg.Connection | None = None
_probe_conn: psycopg.Connection | None = None  # the lab probe tenant's tasks, as the probes' role
_redis: redis.Redis | None = None

_RETRY = dict(autoretry_for=(psycopg.OperationalError,), retry_backoff=1, retry_backoff_max=10,
              max_retries=3, retry_jitter=True)


@cache
def config() -> WorkerConfig:
    return WorkerConfig.from_env()


@signals.worker_process_init.connect
def _forget_parent_connections(**_) -> None:
    """A forked child must never share the parent's sockets."""
    global _conn, _probe_conn, _redis
    _conn = _probe_conn = _redis = None


def db(tenant_id: int | None = None) -> psycopg.Connection:
    """The worker's connection; for the lab's probe tenant the probes' own (their statements are not the workload's)."""
    global _conn, _probe_conn
    if lab_probe.is_probe_tenant(tenant_id) and config().probe_database_url:
        if _probe_conn is None or _probe_conn.closed or _probe_conn.broken:
            _probe_conn = psycopg.connect(config().probe_database_url, autocommit=True,
                                          application_name="sentinel-worker-probe")
        return _probe_conn
    if _conn is None or _conn.closed or _conn.broken:
        _conn = psycopg.connect(config().database_url, autocommit=True, application_name="sentinel-worker")
    return _conn


def rds() -> redis.Redis:
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(config().redis_url, socket_timeout=2, socket_connect_timeout=2)
    return _redis


@celery_app.task(name=INCIDENT_CREATED, bind=True, **_RETRY)
def incident_created(self, incident_id: int, tenant_id: int, outbox_id: int | None = None) -> int:
    """Record the creation event and count it per tenant; returns the event id. Each send has its effect
    once: a message delivered again (its worker was killed before acknowledging it) carries the same task
    id, and one the outbox sweep re-sent (its message was lost) the same outbox row, which the event and
    ``done_at`` commit with, under a lock on that row (the original may still be running)."""
    conn = db(tenant_id)
    key, value = ("outbox_id", str(outbox_id)) if outbox_id is not None else ("task_id", self.request.id or "")
    with conn.transaction():
        if outbox_id is not None:
            conn.execute("SELECT 1 FROM task_outbox WHERE id = %s FOR UPDATE", (outbox_id,))
        row = conn.execute(
            "INSERT INTO incident_events (incident_id, kind, detail) "
            "SELECT id, 'created', jsonb_build_object('tenant_id', tenant_id, 'service', service, "
            "'severity', severity, 'task_id', %(task)s::text, %(key)s::text, %(value)s::text) "
            "FROM incidents WHERE id = %(id)s AND tenant_id = %(tenant)s "
            "AND NOT EXISTS (SELECT 1 FROM incident_events WHERE incident_id = %(id)s AND kind = 'created' "
            "AND detail->>%(key)s = %(value)s) RETURNING id",
            {"task": self.request.id or "", "key": key, "value": value, "id": incident_id,
             "tenant": tenant_id}).fetchone()
        if outbox_id is not None:
            conn.execute("UPDATE task_outbox SET done_at = now() WHERE id = %s AND done_at IS NULL", (outbox_id,))
    if row is None:
        done = conn.execute("SELECT id FROM incident_events WHERE incident_id = %s AND kind = 'created' "
                            "AND detail->>%s = %s", (incident_id, key, value)).fetchone()
        if done:
            return done[0]  # delivered or sent again: its effect happened once already
        raise LookupError(f"incident {incident_id} of tenant {tenant_id} does not exist; "
                          "enqueue the task after the incident is committed")
    try:
        rds().hincrby("sentinel:incidents_created", str(tenant_id), 1)
    except redis.RedisError as exc:
        log.warning("per-tenant counter not updated: %s", exc, extra={"tenant": tenant_id})
    return row[0]


@celery_app.task(name=OUTBOX_SWEEP, **_RETRY)
def outbox_sweep() -> int:
    """Re-send every outbox task still pending ``outbox_resend_s`` after its last send (its message was
    lost, or its worker died); returns how many. Tasks are idempotent, so a slow original does no harm."""
    cfg = config()
    if not cfg.outbox_sweep:
        return 0
    rows = db().execute(
        "UPDATE task_outbox SET sent_at = now(), sends = sends + 1 WHERE id IN (SELECT id FROM task_outbox "
        "WHERE done_at IS NULL AND sent_at < now() - make_interval(secs => %s) ORDER BY id LIMIT 1000 "
        "FOR UPDATE SKIP LOCKED) RETURNING id, task, args", (cfg.outbox_resend_s,)).fetchall()
    for outbox_id, task, args in rows:
        celery_app.send_task(task, args=[*args, outbox_id])
    if rows:
        log.warning("outbox sweep re-sent %d task(s) still pending after %.0f s", len(rows), cfg.outbox_resend_s)
    return len(rows)


@celery_app.task(name=HEALTH_SNAPSHOT, **_RETRY)
def health_snapshot() -> dict:
    """Open incidents, Postgres round trip, Redis reachability and queue lengths, stored as one row."""
    conn = db()
    started = time.perf_counter()
    conn.execute("SELECT 1").fetchone()
    db_ms = (time.perf_counter() - started) * 1000
    open_incidents = conn.execute("SELECT count(*) FROM incidents WHERE status <> 'resolved'").fetchone()[0]
    try:
        rds().ping()
        lengths, redis_ok = queue_lengths(rds(), config().queues), True
    except redis.RedisError:
        lengths, redis_ok = {}, False
    conn.execute("INSERT INTO health_snapshots (open_incidents, db_ms, redis_ok, queue_lengths) "
                 "VALUES (%s, %s, %s, %s)", (open_incidents, db_ms, redis_ok, Jsonb(lengths)))
    return {"open_incidents": open_incidents, "db_ms": round(db_ms, 3), "redis_ok": redis_ok,
            "queue_lengths": lengths}


@celery_app.task(name=CLEANUP, **_RETRY)
def cleanup() -> dict:
    """Delete snapshots and incident events older than their retention; returns the rows deleted."""
    conn, cfg = db(), config()
    snapshots = conn.execute("DELETE FROM health_snapshots WHERE taken_at < now() - make_interval(secs => %s)",
                             (cfg.snapshot_retention_s,)).rowcount
    events = conn.execute("DELETE FROM incident_events WHERE created_at < now() - make_interval(secs => %s)",
                          (cfg.event_retention_s,)).rowcount
    conn.execute("DELETE FROM task_outbox WHERE done_at < now() - make_interval(secs => %s)",
                 (cfg.event_retention_s,))
    log.info("cleanup deleted %d snapshots and %d incident events", snapshots, events)
    return {"health_snapshots": snapshots, "incident_events": events}


_REPORT_SQL = """
WITH mine AS (SELECT * FROM incidents WHERE tenant_id = %(tenant)s),
by_status AS (SELECT coalesce(jsonb_object_agg(status, n), '{}') AS v
              FROM (SELECT status, count(*) AS n FROM mine GROUP BY status) s),
by_severity AS (SELECT coalesce(jsonb_object_agg(severity, n), '{}') AS v
                FROM (SELECT severity, count(*) AS n FROM mine GROUP BY severity) s),
top_services AS (SELECT coalesce(jsonb_agg(jsonb_build_object('service', service, 'incidents', n)
                                           ORDER BY n DESC, service), '[]') AS v
                 FROM (SELECT service, count(*) AS n FROM mine GROUP BY service
                       ORDER BY n DESC, service LIMIT 5) s),
mttr AS (SELECT avg(extract(epoch FROM resolved_at - opened_at)) AS all_s,
                avg(extract(epoch FROM resolved_at - opened_at))
                    FILTER (WHERE opened_at > now() - interval '7 days') AS week_s
         FROM mine WHERE resolved_at IS NOT NULL)
INSERT INTO tenant_reports (tenant_id, report)
SELECT %(tenant)s, jsonb_build_object(
    'incidents', (SELECT count(*) FROM mine), 'by_status', by_status.v, 'by_severity', by_severity.v,
    'top_services', top_services.v, 'mttr_s', mttr.all_s, 'mttr_7d_s', mttr.week_s)
FROM by_status, by_severity, top_services, mttr
WHERE EXISTS (SELECT 1 FROM tenants WHERE id = %(tenant)s)
RETURNING id
"""


@celery_app.task(name=TENANT_REPORT, **_RETRY)
def tenant_report(tenant_id: int) -> int:
    """Aggregate one tenant's incidents (status, severity, top services, MTTR) into tenant_reports."""
    row = db(tenant_id).execute(_REPORT_SQL, {"tenant": tenant_id}).fetchone()
    if row is None:
        raise LookupError(f"tenant {tenant_id} does not exist; pick an id from the tenants table")
    return row[0]
