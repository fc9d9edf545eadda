"""Fixtures shared by the integration tests of one service (the stack-wide ones: tests/conftest.py)."""
from __future__ import annotations

import uuid

import psycopg
import pytest

from stack.api.db import apply_schema


@pytest.fixture
def worker_db(pg_dsn):
    """A database of this test's own, with the schema, two tenants, a user and three incidents."""
    name = f"worker_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    dsn = pg_dsn.rsplit("/", 1)[0] + f"/{name}"
    apply_schema(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO tenants (id, name) VALUES (1, 'acme'), (2, 'globex')")
        conn.execute("INSERT INTO users (id, tenant_id, username, email, password_hash) "
                     "VALUES (1, 1, 'ana', 'ana@acme.test', 'x')")
        conn.execute("INSERT INTO incidents (tenant_id, service, severity, status, opened_at, resolved_at, title) "
                     "VALUES (1, 'billing', 'high', 'resolved', now() - interval '2 hours', now() - interval '1 hour', 'a'),"
                     "       (1, 'billing', 'low', 'open', now() - interval '1 hour', NULL, 'b'),"
                     "       (1, 'search', 'critical', 'acknowledged', now(), NULL, 'c')")
    yield dsn
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
