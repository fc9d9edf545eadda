"""The Loki client. Loki cannot run on this machine (no Docker, no binary), so these tests serve
responses in Loki's documented ``query_range`` wire format (``resultType: streams``, values as
``["<ns epoch string>", "<line>"]``) from a small local HTTP server that honours ``start``,
``end``, ``limit`` and ``direction=forward`` as Loki does."""
from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from analysis.collect.logs import LINE_COLUMNS, LogQuery, counts
from analysis.collect.loki import Loki

T0 = int(datetime(2026, 1, 1, 10, 0, tzinfo=timezone.utc).timestamp() * 1e9)
ENTRIES = [  # (service, ns, JSON line)
    ("api", T0 + i * 1_000_000_000, json.dumps({"timestamp": "ignored, Loki's time wins", "level": lvl,
                                                 "logger": "sentinel.api", "message": msg, "status": st}))
    for i, lvl, msg, st in [(0, "INFO", "GET /dashboard", 200), (1, "ERROR", "db timeout", 500),
                            (2, "INFO", "GET /incidents", 200), (3, "INFO", "GET /dashboard", 200),
                            (11, "ERROR", "db timeout again", 500)]
] + [("truthsync-1", T0 + 500_000_000, json.dumps({"level": "INFO", "message": "verify"}))]


class FakeLoki(BaseHTTPRequestHandler):
    requests: list[dict] = []

    def do_GET(self):
        url = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        FakeLoki.requests.append(q)
        if url.path != "/loki/api/v1/query_range":
            return self._send(404, {"error": "not found"})
        start, end, limit = int(q["start"]), int(q["end"]), int(q["limit"])
        service = q["query"].split('"')[1] if '="' in q["query"] else None
        text = json.loads(q["query"].split("|= ", 1)[1]) if "|= " in q["query"] else None
        hits = sorted((e for e in ENTRIES if start <= e[1] < end and (service is None or e[0] == service)
                       and (text is None or text in e[2])), key=lambda e: e[1])[:limit]
        streams = {}
        for svc, ns, line in hits:
            streams.setdefault(svc, []).append([str(ns), line])
        result = [{"stream": {"service": svc, "job": "sentinel"}, "values": v} for svc, v in streams.items()]
        self._send(200, {"status": "success", "data": {"resultType": "streams", "result": result,
                                                        "stats": {}}})

    def _send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def loki_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeLoki)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    FakeLoki.requests = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


WINDOW = dict(start=datetime(2026, 1, 1, 9, 59, tzinfo=timezone.utc), end=datetime(2026, 1, 1, 10, 1, tzinfo=timezone.utc))


def test_pages_forward_past_the_last_timestamp_and_misses_nothing(loki_url):
    lines = Loki(loki_url, page_size=2).lines(LogQuery(service="api", **WINDOW))
    assert len(lines) == 5 and lines["timestamp"].is_unique
    starts = [int(r["start"]) for r in FakeLoki.requests]
    assert len(starts) == 3 and starts == sorted(starts)
    assert starts[1] == ENTRIES[1][1] + 1  # moved just past the last line of the first page


def test_returns_the_same_frame_as_the_log_files(loki_url):
    lines = Loki(loki_url).lines(LogQuery(**WINDOW))
    assert list(lines.columns) == LINE_COLUMNS
    assert str(lines["timestamp"].dt.tz) == "UTC"
    assert lines["timestamp"].iloc[0] == datetime(2026, 1, 1, 10, 0, tzinfo=timezone.utc)
    assert set(lines["service"]) == {"api", "truthsync-1"}  # from the stream label when the line lacks it
    c = counts(lines, every="10s")
    assert c[(c["service"] == "api") & (c["level"] == "ERROR")]["value"].tolist() == [1.0, 1.0]


def test_text_goes_to_loki_and_level_is_filtered_like_the_files(loki_url):
    loki = Loki(loki_url)
    assert loki.logql(LogQuery(service="api", text='db "timeout"')) == '{service="api"} |= "db \\"timeout\\""'
    errors = loki.lines(LogQuery(service="api", text="db timeout", level="error", **WINDOW))
    assert errors["message"].tolist() == ["db timeout", "db timeout again"]


def test_an_unreachable_loki_says_so():
    with pytest.raises(ConnectionError, match="cannot reach Loki"):
        Loki("http://127.0.0.1:9", timeout_s=1).lines(LogQuery(**WINDOW))
