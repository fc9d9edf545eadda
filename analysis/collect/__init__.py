"""Collectors: one module per data source, each returning long-form ("tidy") DataFrames with
``timestamp`` (UTC), ``metric``, ``value`` and label columns, so notebooks treat sources alike.
``base`` says what a run's device is; ``devices`` wraps the sources as devices a pattern lists."""
from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

COLUMNS = ["timestamp", "metric", "value"]


def tidy(records: Iterable[dict] | pd.DataFrame) -> pd.DataFrame:
    """Records (or a frame) with timestamp/metric/value plus labels → the common frame (labels after,
    sorted)."""
    df = records.copy() if isinstance(records, pd.DataFrame) else pd.DataFrame(list(records))
    if df.empty:
        return pd.DataFrame({"timestamp": pd.Series(dtype="datetime64[ns, UTC]"),
                             "metric": pd.Series(dtype=str), "value": pd.Series(dtype=float)})
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
    df["value"] = pd.to_numeric(df["value"], errors="coerce").astype(float)
    labels = sorted(c for c in df.columns if c not in COLUMNS)
    return df[COLUMNS + labels].reset_index(drop=True)


def delta(before: pd.DataFrame, after: pd.DataFrame, counters: set[str]) -> pd.DataFrame:
    """What happened between two snapshots: ``after - before`` for counters (a series absent before
    counts from zero; one that went down was reset, so its ``after`` value is the delta), the
    ``after`` value for gauges. Rows are matched on metric and labels; timestamp is ``after``'s."""
    labels = [c for c in after.columns if c not in COLUMNS]
    keys = ["metric", *labels]
    # a label may be new in ``after`` (Redis lists db0 only once it holds a key): absent before = no value
    prior_rows = before.reindex(columns=[*keys, "value"]) if len(before) else pd.DataFrame(columns=[*keys, "value"])
    prior_rows = prior_rows.astype({k: after[k].dtype for k in keys if k in after}, errors="ignore")
    merged = after.merge(prior_rows, on=keys, how="left", suffixes=("", "_before"), validate="one_to_one")
    prior = merged.pop("value_before").astype(float).fillna(0.0)
    is_counter = merged["metric"].isin(counters)
    change = merged["value"] - prior
    merged["value"] = merged["value"].where(~is_counter, change.where(change >= 0, merged["value"]))
    return merged[COLUMNS + labels].reset_index(drop=True)
