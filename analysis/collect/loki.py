"""Loki as a log source: the questions ``logs.py`` answers, asked through Loki's HTTP API
(``/loki/api/v1/query_range``), returning the same frames. Used by the compose stack; the
local stack has no Loki."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import httpx
import pandas as pd

from analysis.collect.logs import LogQuery, to_lines


class Loki:
    """Streams are selected by the ``service`` label (as the stack's Alloy config sets it); each
    line is the service's JSON log line. Pages forward, ``page_size`` lines at a time."""

    def __init__(self, url: str, page_size: int = 1000, timeout_s: float = 30.0, service_label: str = "service"):
        self.url, self.page_size, self.label = url.rstrip("/"), page_size, service_label
        self.client = httpx.Client(timeout=timeout_s)

    def logql(self, query: LogQuery) -> str:
        selector = f'{{{self.label}="{query.service}"}}' if query.service else f'{{{self.label}=~".+"}}'
        if query.text:
            selector += f" |= {json.dumps(query.text)}"
        return selector

    def lines(self, query: LogQuery = LogQuery()) -> pd.DataFrame:
        end = query.end or datetime.now(timezone.utc)
        start = query.start or end - timedelta(hours=1)
        records = []
        cursor = _ns(start)
        while True:
            streams = self._page(self.logql(query), cursor, _ns(end))
            page = sorted((int(ts), line, s.get("stream", {})) for s in streams for ts, line in s["values"])
            records += [_record(ts, line, labels, self.label) for ts, line, labels in page]
            if len(page) < self.page_size:
                break
            cursor = page[-1][0] + 1  # past the last line seen, so no line comes twice
        return to_lines((r for r in records if r is not None), query)

    def _page(self, logql: str, start_ns: int, end_ns: int) -> list[dict]:
        params = {"query": logql, "start": str(start_ns), "end": str(end_ns), "limit": str(self.page_size),
                  "direction": "forward"}
        try:
            r = self.client.get(f"{self.url}/loki/api/v1/query_range", params=params)
        except httpx.HTTPError as exc:
            raise ConnectionError(f"cannot reach Loki at {self.url}: is the compose stack up? ({exc})") from exc
        if r.status_code != 200:
            raise RuntimeError(f"Loki refused {logql!r}: {r.status_code} {r.text[:300]}")
        data = r.json()["data"]
        if data["resultType"] != "streams":
            raise ValueError(f"{logql!r} is a metric query ({data['resultType']}); lines() needs a log query")
        return data["result"]


def _ns(t: datetime) -> int:
    t = t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t
    return int(pd.Timestamp(t).value)


def _record(ts_ns: int, line: str, labels: dict, service_label: str) -> dict | None:
    """A Loki entry → a log record: the JSON line's fields, Loki's timestamp and stream labels as fallback."""
    try:
        record = json.loads(line)
    except ValueError:
        record = {"message": line}
    if not isinstance(record, dict):
        return None
    record["timestamp"] = pd.Timestamp(ts_ns, unit="ns", tz="UTC")
    record.setdefault("service", labels.get(service_label))
    record.setdefault("level", labels.get("level"))
    return record
