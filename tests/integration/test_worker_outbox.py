"""No Celery task is lost, even to kombu's Redis window (BRPOP took the message, the worker was killed
before it recorded it as unacked): the API writes each task to an outbox in the request's transaction,
and the worker's sweep re-sends what is still pending; every send has its effect once.

The loss is injected deterministically (the message is popped off the broker's list, which is what
a worker SIGKILLed inside the window does to it); a second test SIGKILLs a real worker again and again
mid-flight and counts how often the window was hit (an original send that never ran).
"""
from __future__ import annotations

import asyncio
import os
import signal
import time

import psycopg
import pytest
import redis
from celery import Celery
from psycopg_pool import AsyncConnectionPool
from psycopg.rows import dict_row
from stack.launch import free_port
from worker_support import _env, running, wait_for, wait_healthy

from stack.api import queries
from stack.worker.app import INCIDENT_CREATED, OUTBOX_SWEEP

pytestmark = pytest.mark.integration

FIELDS = {"service": "billing", "severity": "high", "title": "outbox", "body": ""}


async def _create(dsn: str, n: int) -> list[list]:
    """``n`` incidents through the API's own query (incident and outbox row in one transaction)."""
    async with AsyncConnectionPool(dsn, min_size=1, max_size=2, kwargs={"row_factory": dict_row,
                                                                          "autocommit": True}) as pool:
        return [(await queries.create_incident(pool, 1, 1, FIELDS, INCIDENT_CREATED))[1] for _ in range(n)]


def _effects(dsn: str, incidents: list[int]) -> tuple[int, int]:
    """(incidents with a created event, incidents with more than one)."""
    with psycopg.connect(dsn) as conn:
        counts = conn.execute("SELECT count(*) FROM incident_events WHERE kind = 'created' AND incident_id = ANY(%s) "
                              "GROUP BY incident_id", (incidents,)).fetchall()
    return len(counts), sum(1 for (n,) in counts if n > 1)


def _pending(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT count(*) FROM task_outbox WHERE done_at IS NULL").fetchone()[0]


@pytest.fixture
def broker(redis_url):
    url = redis_url.rsplit("/", 1)[0] + "/6"
    redis.Redis.from_url(url).flushdb()
    sender = Celery(broker=url, backend=url, set_as_current=False)
    yield url, sender
    sender.close()


def _worker_env(dsn: str, url: str, tmp_path, port: int, sweep: str, **extra) -> dict[str, str]:
    return _env(dsn, url, tmp_path / "worker.log", PORT=str(port), SERVICE_NAME="worker",
                SENTINEL_OUTBOX_SWEEP=sweep, **extra)


def test_a_message_lost_by_the_broker_is_sent_again_by_the_sweep_and_runs_once(worker_db, broker, tmp_path):
    url, sender = broker
    sent = asyncio.run(_create(worker_db, 10))
    for args in sent:
        sender.send_task(INCIDENT_CREATED, args=args)
    client = redis.Redis.from_url(url)
    lost = [client.rpop("celery") for _ in range(3)]  # what BRPOP does; the worker then dies before unacked
    assert all(lost) and client.llen("celery") == 7
    incidents = [a[0] for a in sent]
    port = free_port()
    # positive control: without the sweep the three are lost for good
    with running("stack.worker", _worker_env(worker_db, url, tmp_path, port, "off",
                                             SENTINEL_OUTBOX_RESEND_S="0.5"), tmp_path / "w1.out") as proc:
        wait_healthy(f"http://127.0.0.1:{port}", proc, tmp_path / "w1.out")
        wait_for(lambda: _effects(worker_db, incidents)[0] == 7, 30, "the 7 delivered tasks run")
        time.sleep(1)
        assert sender.send_task(OUTBOX_SWEEP).get(timeout=30) == 0
        time.sleep(2)
        assert _effects(worker_db, incidents) == (7, 0) and _pending(worker_db) == 3
    with running("stack.worker", _worker_env(worker_db, url, tmp_path, port, "on",
                                             SENTINEL_OUTBOX_RESEND_S="0.5"), tmp_path / "w2.out") as proc:
        wait_healthy(f"http://127.0.0.1:{port}", proc, tmp_path / "w2.out")
        assert sender.send_task(OUTBOX_SWEEP).get(timeout=30) == 3
        wait_for(lambda: _effects(worker_db, incidents)[0] == 10, 30, "the 3 re-sent tasks run")
        for args in sent[:2]:  # a late duplicate of a done task (a slow original) changes nothing
            sender.send_task(INCIDENT_CREATED, args=args).get(timeout=30)
        assert sender.send_task(OUTBOX_SWEEP).get(timeout=30) == 0  # nothing pending any more
    assert _effects(worker_db, incidents) == (10, 0) and _pending(worker_db) == 0


def test_a_worker_killed_again_and_again_mid_flight_loses_no_task_and_runs_none_twice(worker_db, broker, tmp_path):
    """Tasks flow while the worker is SIGKILLed three times; the sweep (every second here, re-sending what
    is pending after longer than the broker's own redelivery) and the broker's redelivery recover all."""
    url, sender = broker
    incidents_n, kills = 36, 3
    sent = asyncio.run(_create(worker_db, incidents_n))
    originals = {}
    port = free_port()
    env = _worker_env(worker_db, url, tmp_path, port, "on", SENTINEL_VISIBILITY_TIMEOUT_S="4",
                      SENTINEL_OUTBOX_RESEND_S="8", SENTINEL_WORKER_CONCURRENCY="2")
    batch = incidents_n // kills
    for k in range(kills):
        with running("stack.worker", env, tmp_path / f"w{k}.out") as proc:
            wait_healthy(f"http://127.0.0.1:{port}", proc, tmp_path / f"w{k}.out")
            for args in sent[k * batch:(k + 1) * batch]:
                originals[args[0]] = sender.send_task(INCIDENT_CREATED, args=args).id
                time.sleep(0.02)
            time.sleep(0.05 * (k + 1))  # mid-flight: some taken, some running, some still queued
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    incidents = list(originals)
    with running("stack.worker", env, tmp_path / "final.out") as proc:
        wait_healthy(f"http://127.0.0.1:{port}", proc, tmp_path / "final.out")

        def settled():
            if _pending(worker_db):
                sender.send_task(OUTBOX_SWEEP)  # beat's job in the stack: every 5 s
                return False
            return True
        wait_for(settled, 90, "every outbox task done")
    done, twice = _effects(worker_db, incidents)
    with psycopg.connect(worker_db) as conn:
        rows = conn.execute("SELECT incident_id, detail->>'task_id' FROM incident_events WHERE kind = 'created' "
                            "AND incident_id = ANY(%s)", (incidents,)).fetchall()
        resent = conn.execute("SELECT count(*) FROM task_outbox WHERE sends > 1").fetchone()[0]
    window_hits = sum(1 for incident, task_id in rows if task_id != originals[incident])
    print(f"\n{incidents_n} tasks, {kills} SIGKILLs: {resent} re-sent by the sweep, {window_hits} ran only from "
          f"a re-send (their original message was lost), {done} done, {twice} twice")
    assert (done, twice) == (incidents_n, 0)
