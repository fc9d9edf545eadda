"""Prometheus metrics of one instance; the study reads these names.

Overall hit rate = 1 - truthsync_claims_total{cache="miss"} / sum(truthsync_claims_total).
Children are bound once, so a request pays for a few increments, not label lookups.
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

ENDPOINTS = ("/verify", "/verify/batch", "/health", "/ready", "/metrics")
_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self, registry: CollectorRegistry, l1_size=lambda: 0):
        self.registry = registry
        self.requests = Counter("truthsync_requests", "HTTP requests", ["endpoint", "status"], registry=registry)
        self.duration = Histogram("truthsync_request_duration_seconds", "HTTP request latency", ["endpoint"],
                                  buckets=_BUCKETS, registry=registry)
        lookups = Counter("truthsync_cache_lookups", "cache lookups by level and result", ["level", "result"],
                          registry=registry)
        self.l1_hit, self.l1_miss = lookups.labels("l1", "hit"), lookups.labels("l1", "miss")
        self.l2_hit, self.l2_miss = lookups.labels("l2", "hit"), lookups.labels("l2", "miss")
        claims = Counter("truthsync_claims", "claims answered, by where the verdict came from", ["cache"],
                         registry=registry)
        self.claims_l1, self.claims_l2, self.claims_miss = (claims.labels(c) for c in ("l1", "l2", "miss"))
        self.opinions = Counter("truthsync_opinions", "sentences classified as opinions", registry=registry)
        self.l2_errors = Counter("truthsync_l2_errors", "L2 (Redis) failures; the request was served without L2",
                                 registry=registry)
        self.factstore_queries = Histogram("truthsync_factstore_query_seconds", "fact store round trips",
                                           buckets=_BUCKETS, registry=registry)
        Gauge("truthsync_l1_size", "entries in this instance's L1", registry=registry).set_function(l1_size)

    def endpoint(self, path: str) -> str:
        return path if path in ENDPOINTS else "other"
