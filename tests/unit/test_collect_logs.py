"""The JSON-lines log collector over log files written the way the stack's services write them."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pandas as pd
import pytest

from analysis.collect.log_source import log_source
from analysis.collect.logs import (LINE_COLUMNS, SEEK_MARGIN, LogFiles, LogQuery, _offset_before, _records, counts,
                                   to_lines)
from analysis.collect.loki import Loki
from analysis.settings import Settings


def _write(path, records, junk=()):
    path.write_text("".join([json.dumps(r) + "\n" for r in records] + [j + "\n" for j in junk]))


@pytest.fixture
def log_dir(tmp_path):
    api = [{"timestamp": f"2026-01-01T10:00:{s:02d}.000+00:00", "level": lvl, "logger": "sentinel.api",
            "message": msg, "service": "api", "request_id": f"r{s}", "tenant": 3, "status": st,
            "duration_ms": 4.5, "method": "GET"}
           for s, lvl, msg, st in [(1, "INFO", "GET /dashboard", 200), (5, "ERROR", "db timeout on dashboard", 500),
                                   (12, "INFO", "GET /incidents", 200), (14, "WARNING", "slow dashboard", 200)]]
    _write(tmp_path / "api.log", api, junk=["Traceback (most recent call last):", "   not json"])
    nginx = [{"timestamp": "2026-01-01T10:00:03+00:00", "level": "info", "logger": "nginx",
              "message": "GET /api/v1/dashboard/1", "status": 200, "duration_ms": 0.004}]
    _write(tmp_path / "nginx.log", nginx)
    (tmp_path / "postgres.log").write_text("2026-01-01 10:00:00.000 UTC [1] LOG:  database system is ready\n")
    return tmp_path


def test_lines_have_the_documented_columns_in_utc_and_skip_what_is_not_json(log_dir):
    lines = LogFiles(log_dir).lines()
    assert list(lines.columns) == LINE_COLUMNS
    assert str(lines["timestamp"].dt.tz) == "UTC"
    assert len(lines) == 5 and set(lines["service"]) == {"api", "nginx"}  # nginx's service is its file name
    assert lines["timestamp"].is_monotonic_increasing


def test_filters_by_service_level_text_and_window(log_dir):
    src = LogFiles(log_dir)
    assert src.lines(LogQuery(service="api", level="error"))["message"].tolist() == ["db timeout on dashboard"]
    assert len(src.lines(LogQuery(text="dashboard"))) == 4
    window = LogQuery(start=datetime(2026, 1, 1, 10, 0, 3, tzinfo=timezone.utc),
                      end=datetime(2026, 1, 1, 10, 0, 12, tzinfo=timezone.utc))
    assert src.lines(window)["timestamp"].dt.second.tolist() == [3, 5]


def test_counts_per_window_service_and_level_are_tidy(log_dir):
    c = counts(LogFiles(log_dir).lines(LogQuery(service="api")), every="10s")
    assert list(c.columns) == ["timestamp", "metric", "value", "level", "service"]
    assert set(c["metric"]) == {"log_lines"}
    first = c[c["timestamp"] == c["timestamp"].min()].set_index("level")["value"].to_dict()
    assert first == {"INFO": 1.0, "ERROR": 1.0}
    assert c["value"].sum() == 4


def test_a_missing_log_directory_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="sentinel-lab up"):
        LogFiles(tmp_path / "nope").lines()
    assert counts(LogFiles(tmp_path).lines()).empty


def test_the_stack_kind_picks_the_log_source(tmp_path):
    local = log_source(Settings(run_dir=tmp_path))
    assert isinstance(local, LogFiles) and local.log_dir == tmp_path / "logs"
    loki = log_source(Settings(stack="compose", port_base=20000))
    assert isinstance(loki, Loki) and loki.url == "http://127.0.0.1:20310"  # where compose publishes Loki


def test_a_window_in_a_long_file_is_read_from_a_seek_with_the_same_lines_as_a_full_read(tmp_path):
    """A study's files grow to hundreds of MB: a run's window is found by bisection, and lines written
    a little out of order (within ``SEEK_MARGIN``) or not JSON at all change nothing."""
    t0 = datetime(2026, 1, 1, 10, tzinfo=timezone.utc).timestamp()
    records = []
    for i in range(40_000):  # ~5 MB over 4,000 s, every 50th line stamped 5 s late (a buffered writer)
        t = t0 + i / 10 - (5 if i % 50 == 0 else 0)
        stamp = datetime.fromtimestamp(t, timezone.utc).isoformat()
        records.append({"timestamp": stamp, "level": "INFO", "message": f"line {i} " + "x" * 60})
    _write(tmp_path / "api.log", records, junk=["Traceback (most recent call last):"] * 3)
    start, end = (datetime.fromtimestamp(t0 + s, timezone.utc) for s in (3000.0, 3008.0))
    sought = LogFiles(tmp_path).lines(LogQuery(start=start, end=end))
    full = to_lines(_records(tmp_path / "api.log"), LogQuery(start=start, end=end))
    assert len(sought) == 80 and sought.equals(full)
    with (tmp_path / "api.log").open("rb") as f:  # and it did skip: the seek lands near the window
        assert _offset_before(f, pd.Timestamp(start) - SEEK_MARGIN) > 0.7 * f.seek(0, 2)


def test_a_text_log_beside_the_json_ones_is_skipped_without_being_read_through(tmp_path):
    """Postgres' own log is text: the window's search gives up on it at once (it used to read it all)."""
    (tmp_path / "postgres.log").write_text("2026-01-01 10:00:00.000 UTC [1] LOG:  checkpoint complete\n" * 50_000)
    _write(tmp_path / "api.log", [{"timestamp": "2026-01-01T10:00:05+00:00", "level": "INFO", "message": "GET /"}])
    start = datetime(2026, 1, 1, 10, tzinfo=timezone.utc)
    lines = LogFiles(tmp_path).lines(LogQuery(start=start))
    assert list(lines["service"]) == ["api"]
    with (tmp_path / "postgres.log").open("rb") as f:
        assert _offset_before(f, pd.Timestamp(start)) == f.seek(0, 2)
