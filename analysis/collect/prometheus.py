"""Prometheus as tidy frames: instant and range queries through prometheus-api-client, and the
named queries the patterns use (request rate by status, latency quantiles, cache hit ratios, exporters)."""
from __future__ import annotations

import time
from datetime import datetime, timezone

import pandas as pd
import requests
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect

from analysis.collect import tidy
from analysis.settings import Settings

#: PromQL templates; ``{service}`` is the scrape job's ``service`` label, ``{window}`` a rate window.
QUERIES: dict[str, str] = {
    "requests_total": 'sum by (service) (http_requests_total{{service="{service}"}})',
    "request_rate_by_status":
        'sum by (service, status) (rate(http_requests_total{{service="{service}"}}[{window}]))',
    "request_rate_by_handler":
        'sum by (service, handler) (rate(http_requests_total{{service="{service}"}}[{window}]))',
    "latency_p50_s": 'histogram_quantile(0.5, sum by (le) '
                     '(rate(http_request_duration_seconds_bucket{{service="{service}"}}[{window}])))',
    "latency_p95_s": 'histogram_quantile(0.95, sum by (le) '
                     '(rate(http_request_duration_seconds_bucket{{service="{service}"}}[{window}])))',
    "latency_p99_s": 'histogram_quantile(0.99, sum by (le) '
                     '(rate(http_request_duration_seconds_bucket{{service="{service}"}}[{window}])))',
    "cache_hit_ratio": 'sum(rate(sentinel_cache_requests_total{{result="hit"}}[{window}])) '
                       '/ sum(rate(sentinel_cache_requests_total[{window}]))',
    "redis_hit_ratio": 'sum(rate(redis_keyspace_hits_total{{job="redis-cache-exporter"}}[{window}])) / '
                       '(sum(rate(redis_keyspace_hits_total{{job="redis-cache-exporter"}}[{window}])) '
                       '+ sum(rate(redis_keyspace_misses_total{{job="redis-cache-exporter"}}[{window}])))',
    "redis_commands_rate": 'sum(rate(redis_commands_processed_total[{window}]))',
    "redis_memory_bytes": 'redis_memory_used_bytes',
    "pg_commits_rate": 'sum by (datname) (rate(pg_stat_database_xact_commit[{window}]))',
    "pg_backends": 'sum by (datname) (pg_stat_database_numbackends)',
    "nginx_request_rate": 'sum(rate(nginx_http_requests_total[{window}]))',
    "node_cpu_busy": '1 - avg(rate(node_cpu_seconds_total{{mode="idle"}}[{window}]))',
    "process_cpu_rate": 'sum by (service) (rate(process_cpu_seconds_total{{service="{service}"}}[{window}]))',
    "truthsync_request_rate":
        'sum by (endpoint, status) (rate(truthsync_requests_total{{endpoint=~"/verify.*"}}[{window}]))',
    "truthsync_hit_ratio": '1 - sum(rate(truthsync_claims_total{{cache="miss"}}[{window}])) '
                           '/ sum(rate(truthsync_claims_total[{window}]))',
    "truthsync_latency_p95_s": 'histogram_quantile(0.95, sum by (le) '
                               '(rate(truthsync_request_duration_seconds_bucket{{endpoint="/verify"}}[{window}])))',
    "up": 'up',
}


class Prometheus:
    """One Prometheus server; every method returns the lab's tidy frame (labels become columns)."""

    def __init__(self, url: str, timeout_s: int = 30):
        self.url = url
        self.client = PrometheusConnect(url=url, disable_ssl=True, timeout=timeout_s)

    def instant(self, query: str, at: datetime | None = None, metric: str | None = None) -> pd.DataFrame:
        params = {"time": _utc(at).timestamp()} if at else None
        result = self._call(query, lambda: self.client.custom_query(query, params=params))
        return tidy({"timestamp": pd.Timestamp(ts, unit="s", tz="UTC"), "metric": metric or query,
                     "value": v, **_labels(r)} for r in result for ts, v in [r["value"]])

    def range(self, query: str, start: datetime, end: datetime, step: str = "2s",
              metric: str | None = None) -> pd.DataFrame:
        result = self._call(query, lambda: self.client.custom_query_range(query, _utc(start), _utc(end), step))
        return tidy({"timestamp": pd.Timestamp(ts, unit="s", tz="UTC"), "metric": metric or query,
                     "value": v, **_labels(r)} for r in result for ts, v in r["values"])

    def named(self, name: str, start: datetime, end: datetime, step: str = "2s", service: str = "api",
              window: str = "10s") -> pd.DataFrame:
        """A query from QUERIES over a time range; ``metric`` is its name."""
        if name not in QUERIES:
            raise KeyError(f"no named query {name!r}; choose one of {', '.join(QUERIES)}")
        return self.range(QUERIES[name].format(service=service, window=window), start, end, step, metric=name)

    def increase(self, query: str, start: datetime, end: datetime) -> float:
        """How much a counter expression grew between two instants (its value at ``end`` minus at
        ``start``; no extrapolation, unlike PromQL's ``increase``). Counter resets are not handled."""
        values = [self.instant(query, at)["value"].sum() for at in (start, end)]
        return float(values[1] - values[0])

    def scraped_since(self, t: datetime) -> bool:
        """Whether every target has been scraped at ``t`` or later (a down target's ``up`` counts too)."""
        latest = self.instant("min(timestamp(up))")
        return not latest.empty and float(latest["value"].iloc[0]) >= _utc(t).timestamp()

    def wait_for_scrape(self, after: datetime, timeout_s: float, poll_s: float = 0.1) -> bool:
        """Wait until every target has been scraped at ``after`` or later, at most ``timeout_s``; whether
        it was (an unreachable Prometheus is waited for like a slow one: its collector says why later)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if self.scraped_since(after):
                    return True
            except RuntimeError:
                pass
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll_s)

    def _call(self, query: str, fn):
        try:
            return fn()
        except (PrometheusApiClientException, requests.RequestException) as exc:
            raise RuntimeError(f"Prometheus at {self.url} could not answer {query!r}: {exc}") from exc


def await_scrape(settings: Settings, after: datetime) -> None:
    """Until the stack's Prometheus has scraped every target at ``after`` or later (at most two
    intervals and 1 s): a run's sources and probes read its last counts after it."""
    Prometheus(settings.url("prometheus")).wait_for_scrape(after, timeout_s=2 * settings.scrape_interval_s + 1)


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


def _labels(result: dict) -> dict:
    labels = dict(result.get("metric", {}))
    if "__name__" in labels:
        labels["series"] = labels.pop("__name__")
    return labels
