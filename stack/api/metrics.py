"""The API's own Prometheus metrics (the HTTP ones come from prometheus-fastapi-instrumentator)."""
from __future__ import annotations

from prometheus_client import Counter

CACHE_REQUESTS = Counter("sentinel_cache_requests", "Dashboard cache lookups by result",
                         ["result"])  # hit | miss | fallback
DB_QUERIES = Counter("sentinel_db_queries", "SQL statements the API executed")
RATELIMIT_REJECTED = Counter("sentinel_ratelimit_rejected", "Requests refused with 429")
RATELIMIT_FAILOPEN = Counter("sentinel_ratelimit_failopen", "Requests admitted unchecked because Redis was down")
NOTIFICATIONS_PUBLISHED = Counter("sentinel_notifications_published", "Incident notifications published on Redis")
NOTIFICATIONS_DELIVERED = Counter("sentinel_notifications_delivered", "Notifications pushed to SSE clients")
FAULTS_INJECTED = Counter("sentinel_faults_injected", "Faults injected on purpose, by kind", ["kind"])
TASKS_ENQUEUED = Counter("sentinel_tasks_enqueued", "Celery tasks the API enqueued, by outcome", ["outcome"])
REDIS_ERRORS = Counter("sentinel_redis_errors", "Redis calls that failed, by feature", ["feature"])
