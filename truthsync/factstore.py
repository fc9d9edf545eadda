"""The fact store in Postgres: loading it (COPY, idempotent) and finding candidate facts.

Candidates are found with a pg_trgm similarity search over the masked
statement (GIN index), so an uncached verification costs one real database
round trip per request, however many claims missed the caches.

    python -m truthsync.factstore load --dsn DSN --dataset DIR
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from importlib import resources
from pathlib import Path

import psycopg
from psycopg_pool import AsyncConnectionPool

from truthsync.verdict import MATCH_SIMILARITY, Candidate, Fact

SCHEMA_SQL = (resources.files("truthsync") / "schema.sql").read_text()
#: taken around schema creation and loading: concurrent CREATE ... IF NOT EXISTS can still collide
_LOCK = "SELECT pg_advisory_xact_lock(hashtext('truthsync.schema'))"

_BEST = """
SELECT q.i, f.id, f.statement, f.template, f.numbers, s.name, s.trust, f.sim
FROM unnest(%s::text[]) WITH ORDINALITY AS q(t, i)
CROSS JOIN LATERAL (
    SELECT f.*, similarity(f.template, q.t) AS sim FROM truthsync.facts f
    WHERE f.template %% q.t ORDER BY sim DESC, f.id LIMIT 1) f
JOIN truthsync.sources s ON s.id = f.source_id
"""


class FactStoreError(RuntimeError):
    """The fact store is unreachable or empty; the message says how to fix it."""


def load(dsn: str, dataset: Path) -> int:
    """Replace the fact store's content with ``dataset`` (facts.csv, sources.csv); returns the fact count."""
    files = {name: dataset / f"{name}.csv" for name in ("sources", "facts")}
    missing = [str(p) for p in files.values() if not p.exists()]
    if missing:
        raise FactStoreError(f"{', '.join(missing)} not found: write it with python -m truthsync.dataset --out {dataset}")
    with psycopg.connect(dsn) as conn:
        conn.execute(_LOCK)
        conn.execute(SCHEMA_SQL)
        conn.execute("DROP INDEX IF EXISTS truthsync.facts_template_trgm")
        conn.execute("TRUNCATE truthsync.facts, truthsync.sources")
        with conn.cursor() as cur:
            for table, path in files.items():
                with cur.copy(f"COPY truthsync.{table} FROM STDIN (FORMAT csv, HEADER true)") as copy, \
                        path.open("rb") as f:
                    while chunk := f.read(1 << 20):
                        copy.write(chunk)
        conn.execute("CREATE INDEX facts_template_trgm ON truthsync.facts USING gin (template gin_trgm_ops)")
        count = conn.execute("SELECT count(*) FROM truthsync.facts").fetchone()[0]
        conn.execute("INSERT INTO truthsync.dataset (name, facts) VALUES (%s, %s) ON CONFLICT (one) DO UPDATE "
                     "SET name = excluded.name, facts = excluded.facts, loaded_at = now()", (dataset.name, count))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ANALYZE truthsync.facts, truthsync.sources")
    return count


def loaded_dataset(dsn: str) -> str | None:
    """Name of the dataset in the store, or None: lets a benchmark skip a reload."""
    with psycopg.connect(dsn) as conn:
        if conn.execute("SELECT to_regclass('truthsync.dataset')").fetchone()[0] is None:
            return None
        row = conn.execute("SELECT name FROM truthsync.dataset").fetchone()
        return row[0] if row else None


async def _configure(conn: psycopg.AsyncConnection) -> None:
    await conn.execute(f"SET pg_trgm.similarity_threshold = {MATCH_SIMILARITY}")


class FactStore:
    """Async access for the service: a small pool, one query per batch of claims."""

    def __init__(self, dsn: str, pool_size: int = 4):
        self._pool = AsyncConnectionPool(dsn, min_size=1, max_size=pool_size, open=False,
                                         check=AsyncConnectionPool.check_connection,  # survives a Postgres restart
                                         configure=_configure, kwargs={"autocommit": True})

    async def open(self, timeout_s: float = 30.0) -> None:
        await self._pool.open(wait=True, timeout=timeout_s)
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(_LOCK)
            await conn.execute(SCHEMA_SQL)

    async def close(self) -> None:
        await self._pool.close()

    async def fact_count(self) -> int:
        async with self._pool.connection() as conn:
            return (await (await conn.execute("SELECT count(*) FROM truthsync.facts")).fetchone())[0]

    async def best(self, templates: list[str]) -> list[Candidate | None]:
        """The most similar fact for each template (numbers masked), or None below the match threshold."""
        out: list[Candidate | None] = [None] * len(templates)
        try:
            async with self._pool.connection() as conn:
                rows = await (await conn.execute(_BEST, (templates,))).fetchall()
        except (psycopg.Error, TimeoutError) as exc:  # pool timeout raises its own PoolTimeout(TimeoutError)
            raise FactStoreError(f"fact store query failed ({exc}); is Postgres up at DATABASE_URL?") from exc
        for i, fid, statement, template, numbers, source, trust, sim in rows:
            out[i - 1] = Candidate(Fact(fid, statement, source), template, tuple(numbers), trust, sim)
        return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m truthsync.factstore", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    ld = sub.add_parser("load", help="load a dataset written by python -m truthsync.dataset (idempotent)")
    ld.add_argument("--dsn", default=os.environ.get("DATABASE_URL"), help="default: $DATABASE_URL")
    ld.add_argument("--dataset", type=Path, required=True, help="directory with facts.csv and sources.csv")
    args = p.parse_args(argv)
    if not args.dsn:
        p.error("give --dsn or set DATABASE_URL")
    t0 = time.perf_counter()
    try:
        count = load(args.dsn, args.dataset)
    except (FactStoreError, psycopg.Error) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"loaded {count} facts from {args.dataset} in {time.perf_counter() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
