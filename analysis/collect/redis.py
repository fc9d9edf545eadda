"""Redis ``INFO`` as tidy frames: snapshots, and the delta between two of them (what a run did).

The stack runs two instances (analysis.redis_instances): ``snapshot_all`` labels each row with its
``instance``, and a cache hit ratio is read from the cache instance alone (the main one's lookups are
sessions, deny-list checks and counters, not cache hits)."""
from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import redis

from analysis.collect import delta, tidy
from analysis.redis_instances import CACHE

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


def snapshot_all(urls: dict[str, str]) -> pd.DataFrame:
    """``snapshot`` of every instance ({instance: url}), each row labelled with its ``instance``."""
    frames = [snapshot(url).assign(instance=name) for name, url in urls.items()]
    return tidy(pd.concat(frames, ignore_index=True).to_dict("records")) if frames else tidy([])


def changes(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Counter increases (hits, misses, commands, per-command calls) and gauges as of ``after``."""
    return delta(before, after, COUNTERS)


def cache_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of the cache instance when ``frame`` covers several instances; else ``frame`` itself."""
    return frame[frame["instance"] == CACHE.service] if "instance" in frame else frame


def hit_ratio(frame: pd.DataFrame) -> float:
    """keyspace_hits / (hits + misses) of a snapshot or delta (of the cache instance when the frame
    covers several); NaN when Redis saw no lookups."""
    rows = cache_rows(frame)
    rows = rows[rows["metric"].isin(["keyspace_hits", "keyspace_misses"])]
    hits = float(rows.loc[rows["metric"] == "keyspace_hits", "value"].sum())
    misses = float(rows.loc[rows["metric"] == "keyspace_misses", "value"].sum())
    return float(hits / (hits + misses)) if hits + misses else float("nan")
