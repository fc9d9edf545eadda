"""The local stack's JSON-lines logs (one ``<service>.log`` per service): lines filtered by
service, level, text and time, and counts over time windows. ``loki.py`` answers the same
questions from Loki with the same frames, so a notebook does not care which stack ran."""
from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

import orjson
import pandas as pd

from analysis.collect import tidy

#: the columns of a lines frame, whatever the source; other JSON fields are dropped.
LINE_COLUMNS = ["timestamp", "service", "level", "logger", "message", "request_id", "tenant", "status",
                "duration_ms", "task"]


@dataclass(frozen=True)
class LogQuery:
    """Which lines: all filters optional. ``level`` matches case-insensitively, ``text`` is a
    case-sensitive substring of the message; ``start`` inclusive, ``end`` exclusive."""

    service: str | None = None
    level: str | None = None
    text: str | None = None
    start: datetime | None = None
    end: datetime | None = None


class LogSource(Protocol):
    def lines(self, query: LogQuery) -> pd.DataFrame: ...


def to_lines(records: Iterable[dict], query: LogQuery) -> pd.DataFrame:
    """Parsed JSON records → the lines frame, filtered by ``query`` and sorted by time."""
    df = pd.DataFrame(list(records), columns=LINE_COLUMNS)
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True, format="ISO8601")
    keep = pd.Series(True, index=df.index)
    if query.service:
        keep &= df["service"] == query.service
    if query.level:
        keep &= df["level"].fillna("").str.lower() == query.level.lower()
    if query.text:
        keep &= df["message"].fillna("").str.contains(query.text, regex=False)
    if query.start is not None:
        keep &= df["timestamp"] >= pd.Timestamp(query.start)
    if query.end is not None:
        keep &= df["timestamp"] < pd.Timestamp(query.end)
    return df[keep].sort_values("timestamp", kind="stable").reset_index(drop=True)


def counts(lines: pd.DataFrame, every: str = "10s") -> pd.DataFrame:
    """Lines per time window, service and level, as a tidy frame (metric ``log_lines``;
    ``timestamp`` is the window's start)."""
    if lines.empty:
        return tidy([])
    grouped = (lines.assign(level=lines["level"].fillna(""))
               .groupby([pd.Grouper(key="timestamp", freq=every), "service", "level"]).size())
    return tidy({"timestamp": ts, "metric": "log_lines", "value": n, "service": svc, "level": lvl}
                for (ts, svc, lvl), n in grouped.items() if n)


class LogFiles:
    """The JSON-lines files in ``log_dir`` (``Settings().log_dir`` on the local stack). Lines that are
    not JSON objects (a crash trace, a foreign log) are skipped."""

    def __init__(self, log_dir: str | Path):
        self.log_dir = Path(log_dir)

    def lines(self, query: LogQuery = LogQuery()) -> pd.DataFrame:
        pattern = f"{query.service}.log" if query.service else "*.log"
        files = sorted(self.log_dir.glob(pattern))
        if not files and not self.log_dir.is_dir():
            raise FileNotFoundError(f"no log directory {self.log_dir}: is the local stack up (sentinel-lab up)?")
        since = None if query.start is None else pd.Timestamp(query.start) - SEEK_MARGIN
        return to_lines((r for f in files for r in _records(f, since)), query)


#: how far a line may precede, in its file, one written earlier: processes share a file and buffer
SEEK_MARGIN = pd.Timedelta(seconds=30)


def _records(path: Path, since: pd.Timestamp | None = None):
    """The file's JSON records, from about ``since`` on: a study's files grow to hundreds of MB, and a
    run wants its last seconds, so the start is found by bisection on the lines' timestamps."""
    with path.open("rb") as f:
        if since is not None:
            f.seek(_offset_before(f, since))
        for record in _stamped(f):
            record.setdefault("service", path.stem)
            yield record


def _stamped(raw_lines):
    """The lines that are JSON objects with a timestamp, parsed."""
    for raw in raw_lines:
        try:
            record = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        if isinstance(record, dict) and "timestamp" in record:
            yield record


def _offset_before(f, since: pd.Timestamp) -> int:
    """An offset of a line start at or before the first line stamped ``since`` or later (files are
    appended in time order, give or take ``SEEK_MARGIN``, which the caller already subtracted)."""
    lo, hi = 0, f.seek(0, 2)
    if _stamp_after(f, 0) is None:  # no JSON line near the top (Postgres' own text log): none to read
        return hi
    while hi - lo > 64 * 1024:
        mid = (lo + hi) // 2
        stamp = _stamp_after(f, mid)
        if stamp is None or stamp >= since:
            hi = mid
        else:
            lo = mid
    f.seek(lo)
    if lo:
        f.readline()  # the rest of a line cut in the middle
    return f.tell()


def _stamp_after(f, offset: int, lines: int = 200) -> pd.Timestamp | None:
    """The timestamp of the first whole JSON line among the ``lines`` after ``offset``; None if none."""
    f.seek(offset)
    if offset:
        f.readline()  # the rest of a line cut in the middle
    for record in _stamped(itertools.islice(f, lines)):
        try:
            stamp = pd.Timestamp(record["timestamp"])
        except ValueError:
            continue
        return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return None
