"""The Prometheus collector against a real ``prometheus`` scraping a real prometheus_client
exporter that this module starts (no stack needed)."""
from __future__ import annotations

import subprocess
import time
from datetime import datetime, timedelta, timezone

import pytest
from ports import free_port
import requests
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from analysis.collect.prometheus import QUERIES, Prometheus

pytestmark = pytest.mark.integration
SCRAPE_S = 1


def _wait(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def exporter():
    """An application's metrics endpoint: the same names prometheus-fastapi-instrumentator uses."""
    registry = CollectorRegistry()
    metrics = {
        "requests": Counter("http_requests", "requests", ["handler", "status"], registry=registry),
        "latency": Histogram("http_request_duration_seconds", "latency", registry=registry,
                             buckets=(0.01, 0.05, 0.1, 0.5, 1.0)),
    }
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    yield port, metrics
    server.shutdown()


@pytest.fixture(scope="module")
def prometheus(exporter, tmp_path_factory):
    port, _ = exporter
    d = tmp_path_factory.mktemp("prom")
    (d / "prometheus.yml").write_text(
        f"global: {{scrape_interval: {SCRAPE_S}s, evaluation_interval: {SCRAPE_S}s}}\n"
        "scrape_configs:\n"
        f"  - job_name: api\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        "        labels: {service: api}\n")
    web = free_port()
    proc = subprocess.Popen(["prometheus", f"--config.file={d / 'prometheus.yml'}", f"--storage.tsdb.path={d / 'data'}",
                             f"--web.listen-address=127.0.0.1:{web}"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{web}"
    try:
        _wait(lambda: _ok(f"{url}/-/ready"), what="prometheus ready")
        prom = Prometheus(url)
        _wait(lambda: len(prom.instant('up{job="api"} == 1')) == 1, what="the exporter scraped")
        yield prom
    finally:
        proc.terminate()
        proc.wait(10)


def _ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def _settle():
    time.sleep(2.5 * SCRAPE_S)


def test_increase_between_two_instants_counts_every_request(prometheus, exporter):
    _, m = exporter
    _settle()
    start = datetime.now(timezone.utc)
    for _ in range(40):
        m["requests"].labels("/a", "2xx").inc()
    for _ in range(10):
        m["requests"].labels("/b", "5xx").inc()
    _settle()
    end = datetime.now(timezone.utc)
    assert prometheus.increase('sum(http_requests_total{service="api"})', start, end) == 50


def test_range_query_is_tidy_with_labels_as_columns(prometheus, exporter):
    _, m = exporter
    start = datetime.now(timezone.utc)
    m["requests"].labels("/c", "2xx").inc(3)
    _settle()
    df = prometheus.range('http_requests_total{service="api"}', start, datetime.now(timezone.utc), step="1s")
    assert list(df.columns[:3]) == ["timestamp", "metric", "value"]
    assert {"handler", "status", "service", "job", "instance", "series"} <= set(df.columns)
    assert str(df["timestamp"].dt.tz) == "UTC"
    assert df[df["handler"] == "/c"]["value"].max() == 3


def test_named_queries_take_the_name_as_metric(prometheus, exporter):
    _, m = exporter
    start = datetime.now(timezone.utc)
    for _ in range(30):
        m["requests"].labels("/a", "2xx").inc()
        m["latency"].observe(0.03)
        time.sleep(0.05)
    _settle()
    end = datetime.now(timezone.utc)
    rate = prometheus.named("request_rate_by_status", start, end, step="1s", window="5s")
    assert set(rate["metric"]) == {"request_rate_by_status"} and "status" in rate.columns
    assert rate[rate["status"] == "2xx"]["value"].max() > 0
    p95 = prometheus.named("latency_p95_s", start, end, step="1s", window="5s")["value"].dropna()
    assert len(p95) and ((p95 > 0.01) & (p95 <= 0.05)).any()  # observations sit in the 10–50 ms bucket


def test_every_named_query_is_valid_promql(prometheus):
    now = datetime.now(timezone.utc)
    for name in QUERIES:
        prometheus.named(name, now - timedelta(seconds=10), now)  # raises on a syntax error


def test_errors_name_the_server_and_the_query(prometheus):
    with pytest.raises(RuntimeError, match="could not answer"):
        prometheus.instant("sum(")
    with pytest.raises(KeyError, match="choose one of"):
        prometheus.named("nope", datetime.now(timezone.utc), datetime.now(timezone.utc))
