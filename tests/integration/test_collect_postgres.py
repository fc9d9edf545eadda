"""The Postgres collector against a real Postgres 15 with pg_stat_statements."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import psycopg
import pytest

from analysis.collect import postgres
from analysis.experiment import derive

pytestmark = pytest.mark.integration


def test_statements_snapshot_has_the_tidy_columns_and_labels(pg_dsn):
    snap = postgres.statements(pg_dsn)
    assert list(snap.columns[:3]) == ["timestamp", "metric", "value"]
    assert {"queryid", "query", "database", "user"} <= set(snap.columns)
    assert str(snap["timestamp"].dt.tz) == "UTC"
    assert {"calls", "total_exec_time_ms", "rows", "shared_blks_hit", "shared_blks_read"} <= set(snap["metric"])


def test_delta_holds_what_ran_between_the_snapshots_and_nothing_from_before(pg_dsn):
    marker = f"t_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {marker}_before (id int)")
        conn.execute(f"SELECT count(*) FROM {marker}_before")
        before = postgres.statements(pg_dsn)
        conn.execute(f"CREATE TABLE {marker} (id int, v text)")
        for i in range(7):
            conn.execute(f"INSERT INTO {marker} VALUES (%s, %s)", (i, "x"))
        conn.execute(f"SELECT * FROM {marker} WHERE id > %s", (2,))
    after = postgres.statements(pg_dsn)
    d = postgres.statements_delta(before, after)
    calls = d[d["metric"] == "calls"].set_index("query")["value"]
    inserts = calls[calls.index.str.startswith(f"INSERT INTO {marker} ")]
    assert inserts.tolist() == [7.0]  # normalised: one statement, seven calls
    assert any(q.startswith(f"SELECT * FROM {marker} WHERE") for q in calls.index)
    assert not any(f"{marker}_before" in q for q in calls.index), "statements from before the run leaked in"
    assert (d["metric"] == "mean_exec_time_ms").any()
    assert (calls > 0).all()


def test_database_delta_counts_commits(pg_dsn):
    before = postgres.databases(pg_dsn, database="sentinel")
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        for _ in range(5):
            conn.execute("SELECT 1")
    after = postgres.databases(pg_dsn, database="sentinel")
    d = postgres.databases_delta(before, after).set_index("metric")["value"]
    assert d["xact_commit"] >= 5
    assert set(postgres.databases(pg_dsn)["database"]) >= {"sentinel", "postgres"}


def test_slow_queries_come_from_the_server_log(pg_dsn):
    """The session fixture logs to <data_directory>/server.log; a statement slower than the
    threshold appears there with its duration."""
    since = datetime.now(timezone.utc)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        log = Path(conn.execute("SHOW data_directory").fetchone()[0]) / "server.log"
        if not log.exists():
            pytest.skip(f"the Postgres fixture no longer logs to {log}")
        conn.execute("SET log_min_duration_statement = 50")
        conn.execute("SELECT pg_sleep(0.12), 'slow-one'")
        conn.execute("SELECT 'fast-one'")
    slow = postgres.slow_queries(log, since=since)
    assert (slow["metric"] == "duration_ms").all()
    hits = slow[slow["query"].str.contains("slow-one")]
    assert len(hits) == 1 and hits["value"].iloc[0] >= 100
    assert not slow["query"].str.contains("fast-one").any()


def test_database_load_per_request_is_non_zero_on_a_real_postgres(pg_dsn):
    """What ``derive`` reads from a real run's delta: execution time and shared blocks of the
    application role's statements, per request, both above zero."""
    table = f"load_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 5000) g")
        before = postgres.statements(pg_dsn)
        for i in range(20):
            conn.execute(f"SELECT count(*) FROM {table} WHERE v LIKE %s", (f"{i % 10}%",))
    delta = postgres.statements_delta(before, postgres.statements(pg_dsn))
    now = datetime.now(timezone.utc)
    requests = pd.DataFrame({"timestamp": [now] * 10, "name": "x", "response_time_ms": 1.0, "success": True})
    derived = derive({"requests": requests, "postgres": delta}, 1.0, app_user="sentinel").set_index("metric")["value"]
    assert derived["pg_statements"] >= 20
    assert derived["pg_exec_ms_per_request"] > 0
    assert derived["pg_blocks_per_request"] >= 20 * 30 / 10  # 5,000 rows of ~45 bytes: dozens of pages a scan
