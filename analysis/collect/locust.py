"""Locust's own files as DataFrames: the ``--csv`` stats, history and failures, and the per-request
log of loadtests/common.py. Column names become snake_case (``95%`` → ``p95_ms``)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

_RENAME = {"Type": "type", "Name": "name", "Request Count": "requests", "Failure Count": "failures",
           "Median Response Time": "median_ms", "Average Response Time": "mean_ms",
           "Min Response Time": "min_ms", "Max Response Time": "max_ms", "Average Content Size": "mean_bytes",
           "Requests/s": "rps", "Failures/s": "failures_per_s", "User Count": "users",
           "Total Request Count": "total_requests", "Total Failure Count": "total_failures",
           "Total Median Response Time": "total_median_ms", "Total Average Response Time": "total_mean_ms",
           "Total Min Response Time": "total_min_ms", "Total Max Response Time": "total_max_ms",
           "Total Average Content Size": "total_mean_bytes", "Method": "method", "Error": "error",
           "Occurrences": "occurrences", "First Seen": "first_seen", "Last Seen": "last_seen"}


def _read_csv(path, **kw) -> pd.DataFrame:
    try:
        return pd.read_csv(path, na_values=["N/A"], **kw)
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return pd.DataFrame()


def _columns(df: pd.DataFrame) -> pd.DataFrame:
    """Locust's headers to snake_case: ``95%`` → ``p95_ms``, ``99.9%`` → ``p99.9_ms``."""
    return df.rename(columns=lambda c: _RENAME.get(c) or re.sub(r"^([\d.]+)%$", r"p\1_ms", c))


def read_stats(path) -> pd.DataFrame:
    """Per endpoint: type, name, requests, failures, mean/median/min/max ms, rps, p50_ms … p100_ms."""
    df = _columns(_read_csv(path))
    return df.assign(type=df["type"].astype(object).fillna("")) if len(df) else df


def read_history(path) -> pd.DataFrame:
    """Per second and endpoint (``name == "Aggregated"`` for all): timestamp (UTC), users, rps, percentiles."""
    df = _columns(_read_csv(path))
    if df.empty:
        return df
    df.insert(0, "timestamp", pd.to_datetime(df.pop("Timestamp"), unit="s", utc=True))
    return df.assign(type=df["type"].astype(object).fillna(""))


def read_failures(path) -> pd.DataFrame:
    """One row per distinct error: method, name, error, occurrences."""
    df = _columns(_read_csv(path))
    return df if len(df.columns) else pd.DataFrame(columns=["method", "name", "error", "occurrences"])


def read_requests(path) -> pd.DataFrame:
    """The per-request log written by loadtests/common.py, with each worker's ``<path>.<pid>`` under
    ``--processes`` (empty if the locustfile does not import it). ``intended_ms``: latency from an
    open-loop request's intended start (NaN in closed-loop runs)."""
    path = Path(path)
    parts = [df for df in (_read_csv(p, keep_default_na=False)
                           for p in [path, *sorted(path.parent.glob(f"{path.name}.*"))]) if not df.empty]
    if not parts:
        return pd.DataFrame({"timestamp": pd.Series(dtype="datetime64[ns, UTC]"), "type": [], "name": [],
                             "response_time_ms": pd.Series(dtype=float), "success": pd.Series(dtype=bool),
                             "intended_ms": pd.Series(dtype=float)})
    df = pd.concat(parts, ignore_index=True)
    intended = (pd.to_numeric(df["intended_ms"], errors="coerce") if "intended_ms" in df
                else pd.Series(float("nan"), index=df.index))
    return df.assign(timestamp=pd.to_datetime(df["timestamp"], unit="s", utc=True),
                     success=df["success"].astype(bool), intended_ms=intended).sort_values(
                         "timestamp", kind="stable", ignore_index=True)


def read_profile(path) -> pd.DataFrame:
    """The stages loadtests/shapes.py played: start, end (UTC), users, spawn_rate, fault (missing outside
    fault windows). Empty when the locustfile has no LabShape."""
    columns = ["start", "end", "users", "spawn_rate", "fault"]
    try:
        stages = json.loads(Path(path).read_text())["stages"]
    except FileNotFoundError:
        return pd.DataFrame(columns=columns)
    df = pd.DataFrame(stages, columns=columns)
    return df.assign(start=pd.to_datetime(df["start"], unit="s", utc=True),
                     end=pd.to_datetime(df["end"], unit="s", utc=True))
