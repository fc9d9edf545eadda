"""A run's derived metrics: the per-run scalars the statistics compare, from the frames its devices
stored (the load's requests, Postgres statements, Redis counters) plus the devices' own scalars.

Only the application's statements count (``app_user``): the lab's probes and monitors run under their
own roles, and the snapshot query itself (``pg_stat_statements``) is left out.
"""
from __future__ import annotations

import pandas as pd

from analysis.collect.base import Values, values_frame
from analysis.collect.redis import cache_rows as redis_cache_rows


def _total(frame: pd.DataFrame | None, metric: str, exclude_query: str | None = None) -> float | None:
    if frame is None or frame.empty or metric not in set(frame["metric"]):
        return None if frame is None or frame.empty else 0.0
    rows = frame[frame["metric"] == metric]
    if exclude_query and "query" in rows:
        rows = rows[~rows["query"].astype(str).str.contains(exclude_query, regex=False)]
    return float(rows["value"].sum())


def _pg_blocks(pg: pd.DataFrame | None) -> float | None:
    """Shared buffers the statements touched: hits plus reads (database load a statement count hides)."""
    hit, read = (_total(pg, m, exclude_query="pg_stat_statements") for m in ("shared_blks_hit", "shared_blks_read"))
    return None if hit is None else hit + (read or 0.0)


def derive(frames: dict[str, pd.DataFrame], seconds: float, probed: Values | None = None,
           app_user: str = "sentinel") -> pd.DataFrame:
    """The per-run scalars the statistics compare (``metric``, ``value``, ``unit``); ``probed`` adds
    the probes' own (name → (value, unit))."""
    req = frames.get("requests")
    values: Values = {}
    if req is not None and len(req):
        span = (req["timestamp"].max() - req["timestamp"].min()).total_seconds() or seconds
        n, errors = len(req), int((~req["success"].astype(bool)).sum())
        values.update(requests=(n, "requests"), errors=(errors, "errors"), error_rate=(errors / n, "errors/request"),
                      throughput_rps=(n / max(span, 1e-9), "req/s"))
        for q in (0.5, 0.95, 0.99):
            values[f"p{int(q * 100)}_ms"] = (float(req["response_time_ms"].quantile(q)), "ms")
    pg = frames.get("postgres")
    if pg is not None and not pg.empty and "user" in pg:  # the application's statements, not the lab's
        pg = pg[pg["user"] == app_user]
    statements = _total(pg, "calls", exclude_query="pg_stat_statements")
    exec_ms = _total(pg, "total_exec_time_ms", exclude_query="pg_stat_statements")
    blocks = _pg_blocks(pg)
    commands = _total(frames.get("redis"), "total_commands_processed")
    for name, count, unit in (("pg_statements", statements, "statements"), ("pg_exec_ms", exec_ms, "ms"),
                              ("pg_blocks", blocks, "blocks"), ("redis_commands", commands, "commands")):
        if count is not None:
            values[name] = (count, unit)
            if values.get("requests"):
                values[f"{name}_per_request"] = (count / values["requests"][0], f"{unit}/request")
    cache = redis_cache_rows(frames["redis"]) if frames.get("redis") is not None else None
    hits, misses = _total(cache, "keyspace_hits"), _total(cache, "keyspace_misses")
    if hits is not None and hits + (misses or 0) > 0:
        values["redis_hit_ratio"] = (hits / (hits + (misses or 0)), "ratio")
    values.update(probed or {})
    return values_frame(values)
