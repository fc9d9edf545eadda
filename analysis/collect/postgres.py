"""Postgres as tidy frames: ``pg_stat_statements`` and ``pg_stat_database`` snapshots, the delta
between two snapshots (what a run caused), and the slow-query entries of the server log."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import psycopg

from analysis.collect import delta, tidy

STATEMENT_COUNTERS = {"calls", "total_exec_time_ms", "rows", "shared_blks_hit", "shared_blks_read",
                      "shared_blks_dirtied", "shared_blks_written", "blk_read_time_ms", "blk_write_time_ms"}
_STATEMENTS = """
SELECT s.queryid::text AS queryid, s.query, d.datname AS database, r.rolname AS "user",
       s.calls, s.total_exec_time AS total_exec_time_ms, s.rows, s.shared_blks_hit, s.shared_blks_read,
       s.shared_blks_dirtied, s.shared_blks_written, s.blk_read_time AS blk_read_time_ms,
       s.blk_write_time AS blk_write_time_ms
FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid JOIN pg_roles r ON r.oid = s.userid
WHERE s.queryid IS NOT NULL AND (%(database)s::text IS NULL OR d.datname = %(database)s)
"""
DATABASE_COUNTERS = {"xact_commit", "xact_rollback", "blks_read", "blks_hit", "tup_returned", "tup_fetched",
                     "tup_inserted", "tup_updated", "tup_deleted", "conflicts", "temp_files", "temp_bytes",
                     "deadlocks"}
_DATABASE = f"""
SELECT datname AS database, numbackends, {", ".join(sorted(DATABASE_COUNTERS))}
FROM pg_stat_database WHERE datname IS NOT NULL AND (%(database)s::text IS NULL OR datname = %(database)s)
"""
_SLOW = re.compile(r"^(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)(?: (?P<tz>[A-Z]{2,5}|[+-]\d\d))? "
                   r"\[(?P<pid>\d+)\] (?:(?P<user>[^@\s\[]*)@(?P<database>\S*) )?LOG:  duration: "
                   r"(?P<ms>[\d.]+) ms  (?:statement|execute [^:]*|bind [^:]*|parse [^:]*): (?P<query>.*)$")


def _query(dsn: str, sql: str, database: str | None) -> tuple[datetime, pd.DataFrame]:
    """Run ``sql`` in autocommit so the statistics views are read fresh, not from a cached snapshot."""
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
            cur = conn.execute(sql, {"database": database})
            return datetime.now(timezone.utc), pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])
    except psycopg.errors.UndefinedTable as exc:
        raise RuntimeError("pg_stat_statements is missing: add it to shared_preload_libraries, restart, "
                           "then CREATE EXTENSION pg_stat_statements") from exc


def _melt(now: datetime, wide: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
    long = wide.melt(id_vars=labels, var_name="metric", value_name="value")
    return tidy(long.assign(timestamp=now))


def statements(dsn: str, database: str | None = None) -> pd.DataFrame:
    """A ``pg_stat_statements`` snapshot; labels ``queryid``, ``query`` (normalised), ``database``, ``user``."""
    now, wide = _query(dsn, _STATEMENTS, database)
    return _melt(now, wide, ["queryid", "query", "database", "user"])


def statements_delta(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Per statement, what happened between two snapshots, plus ``mean_exec_time_ms`` over those calls;
    statements not called in between are left out."""
    d = delta(before, after, STATEMENT_COUNTERS)
    keys = [c for c in d.columns if c not in ("metric", "value")]
    wide = d.pivot_table(index=keys, columns="metric", values="value", aggfunc="sum").reset_index()
    wide = wide[wide["calls"] > 0]
    wide["mean_exec_time_ms"] = wide["total_exec_time_ms"] / wide["calls"]
    long = wide.melt(id_vars=keys, var_name="metric", value_name="value")
    return tidy(long)


def databases(dsn: str, database: str | None = None) -> pd.DataFrame:
    """A ``pg_stat_database`` snapshot (commits, rollbacks, blocks hit/read, tuples, deadlocks); label ``database``."""
    now, wide = _query(dsn, _DATABASE, database)
    return _melt(now, wide, ["database"])


def databases_delta(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    return delta(before, after, DATABASE_COUNTERS)


def slow_queries(log: str | Path, since: datetime | None = None, tz: str = "UTC") -> pd.DataFrame:
    """``duration: N ms  statement: …`` entries of a server log (``log_min_duration_statement``):
    metric ``duration_ms``, labels ``query``, ``pid``, ``user``, ``database``. Times without a zone
    in the log are read in ``tz``."""
    rows = []
    for entry in _entries(Path(log)):
        m = _SLOW.match(entry)
        if not m:
            continue
        ts = pd.Timestamp(m["ts"])
        ts = ts.tz_localize("UTC" if m["tz"] in ("UTC", "GMT") else tz).tz_convert("UTC")
        if since is None or ts >= since:
            rows.append({"timestamp": ts, "metric": "duration_ms", "value": float(m["ms"]), "query": m["query"],
                         "pid": m["pid"], "user": m["user"] or "", "database": m["database"] or ""})
    return tidy(rows)


def _entries(path: Path):
    """Log entries with their continuation lines (a multi-line statement continues with a tab)."""
    entry = None
    with path.open(errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("\t") and entry is not None:
                entry += " " + line.strip()
                continue
            if entry is not None:
                yield entry
            entry = line
    if entry is not None:
        yield entry
