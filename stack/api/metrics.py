"""The API's own Prometheus metrics (the HTTP ones come from prometheus-fastapi-instrumentator).

One registry per app, so several apps in one process (tests, the bench) never
share or lose series; the lab reads these names.
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry = registry or CollectorRegistry()
        cache = Counter("sentinel_cache_requests", "Dashboard cache lookups by result", ["result"], registry=registry)
        self.cache_hit, self.cache_miss, self.cache_fallback = (cache.labels(r) for r in ("hit", "miss", "fallback"))
        self.db_queries = Counter("sentinel_db_queries", "SQL statements the API executed (the lab's probes' apart)",
                                  registry=registry)
        self.probe_db_queries = Counter("sentinel_probe_db_queries",
                                        "SQL statements the API executed for the lab's probe tenant", registry=registry)
        self.ratelimit_rejected = Counter("sentinel_ratelimit_rejected", "Requests refused with 429",
                                          registry=registry)
        self.ratelimit_failopen = Counter("sentinel_ratelimit_failopen",
                                          "Requests admitted unchecked because Redis was down", registry=registry)
        self.notifications_published = Counter("sentinel_notifications_published",
                                               "Incident notifications published on Redis", registry=registry)
        self.notifications_delivered = Counter("sentinel_notifications_delivered",
                                               "Notifications pushed to SSE clients", registry=registry)
        self.faults_injected = Counter("sentinel_faults_injected", "Faults injected on purpose, by kind", ["kind"],
                                       registry=registry)
        self.tasks_enqueued = Counter("sentinel_tasks_enqueued", "Celery tasks the API enqueued, by outcome",
                                      ["outcome"], registry=registry)
        self.redis_errors = Counter("sentinel_redis_errors", "Redis calls that failed, by feature", ["feature"],
                                    registry=registry)
