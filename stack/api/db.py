"""Postgres access: one async pool whose cursors count every statement they execute."""
from __future__ import annotations

from importlib.resources import files

import psycopg
from prometheus_client import Counter
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

SCHEMA_SQL = files("stack.api").joinpath("schema.sql").read_text()


class CountingCursor(psycopg.AsyncCursor):
    """Counts each execute in ``counter`` (``sentinel_db_queries_total``, the lab's statements per request);
    the pool's empty liveness query on checkout is not a statement of the request's and is not counted."""

    counter: Counter

    async def execute(self, query, params=None, **kwargs):
        if query != "":
            self.counter.inc()
        return await super().execute(query, params, **kwargs)


def make_pool(dsn: str, size: int, counter: Counter) -> AsyncConnectionPool:
    """An unopened pool; open it in the app's lifespan (``await pool.open()``)."""
    cursor = type("CountingCursor", (CountingCursor,), {"counter": counter})
    # check: a connection broken by a Postgres restart is replaced before use, not handed to a request
    return AsyncConnectionPool(dsn, min_size=min(2, size), max_size=size, open=False, timeout=10,
                               check=AsyncConnectionPool.check_connection,
                               kwargs={"cursor_factory": cursor, "row_factory": dict_row, "autocommit": True})


def apply_schema(dsn: str) -> None:
    """Create the tables and indexes if they are missing (safe to run any number of times)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(734001)")
        try:
            conn.execute(SCHEMA_SQL)
        finally:
            conn.execute("SELECT pg_advisory_unlock(734001)")
