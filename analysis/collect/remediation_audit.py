"""The remediator's audit trail (``remediator-audit.jsonl`` beside its log): one row per decision.

Locally the file is read directly; in compose Alloy ships the same lines to Loki under
``service="remediator-audit"``. The frame keeps the trail's own fields (not the tidy metric form):
it is a record of decisions, not a series; ``params`` stays JSON text so it stores as Parquet.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

import orjson
import pandas as pd

FILE = "remediator-audit.jsonl"
COLUMNS = ["timestamp", "source", "alert", "action", "params", "why", "mode", "outcome", "detail",
           "fingerprint", "episode", "starts_at", "received_at", "started_at", "finished_at", "act_ms"]


def read(log_dir: Path, start: datetime | None = None, end: datetime | None = None) -> pd.DataFrame:
    """Decisions written between ``start`` (inclusive) and ``end`` (exclusive); an absent file is no decision."""
    path = Path(log_dir) / FILE
    records = []
    if path.exists():
        for line in path.read_bytes().splitlines():
            try:
                records.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                continue  # a line cut short by a crash is not a decision
    df = pd.DataFrame(records, columns=COLUMNS)
    df["params"] = [orjson.dumps(p or {}).decode() for p in df["params"]]
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True, format="ISO8601")
    keep = pd.Series(True, index=df.index)
    if start is not None:
        keep &= df["timestamp"] >= pd.Timestamp(start)
    if end is not None:
        keep &= df["timestamp"] < pd.Timestamp(end)
    return df[keep].reset_index(drop=True)
