"""Redis ``INFO`` as tidy frames: snapshots, and the delta between two of them (what a run did)."""
from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import redis

from analysis.collect import delta, tidy

#: INFO fields kept; counters get a delta, the rest (gauges) keep their latest value.
COUNTERS = {"keyspace_hits", "keyspace_misses", "total_commands_processed", "total_connections_received",
            "expired_keys", "evicted_keys", "rejected_connections", "total_net_input_bytes",
            "total_net_output_bytes", "command_calls", "command_usec", "command_failed_calls"}
GAUGES = {"used_memory", "used_memory_rss", "used_memory_peak", "connected_clients", "blocked_clients",
          "pubsub_channels", "pubsub_patterns", "instantaneous_ops_per_sec", "db_keys", "db_expires"}


def snapshot(url: str) -> pd.DataFrame:
    """One ``INFO all`` reading: server counters and gauges, keys per db (label ``db``) and calls
    per command (label ``command``)."""
    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        info = client.info("all")
    except redis.ConnectionError as exc:
        raise ConnectionError(f"cannot read INFO from {url}: is Redis running? ({exc})") from exc
    finally:
        client.close()
    now = datetime.now(timezone.utc)
    rows = [{"timestamp": now, "metric": k, "value": v} for k, v in info.items() if k in COUNTERS | GAUGES]
    for key, value in info.items():
        if key.startswith("db") and isinstance(value, dict):
            rows += [{"timestamp": now, "metric": f"db_{f}", "value": value[f], "db": key}
                     for f in ("keys", "expires") if f in value]
        elif key.startswith("cmdstat_") and isinstance(value, dict):
            rows += [{"timestamp": now, "metric": f"command_{f}", "value": value[f], "command": key[8:]}
                     for f in ("calls", "usec", "failed_calls") if f in value]
    return tidy(rows)


def changes(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Counter increases (hits, misses, commands, per-command calls) and gauges as of ``after``."""
    return delta(before, after, COUNTERS)


def hit_ratio(frame: pd.DataFrame) -> float:
    """keyspace_hits / (hits + misses) of a snapshot or delta; NaN when Redis saw no lookups."""
    v = frame.set_index("metric")["value"]
    hits, misses = v.get("keyspace_hits", 0.0), v.get("keyspace_misses", 0.0)
    return float(hits / (hits + misses)) if hits + misses else float("nan")
