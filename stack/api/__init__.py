"""The Sentinel API: the multi-tenant FastAPI backend the lab measures, with every pattern toggle.

Run: ``python -m stack.api`` with HOST, PORT, DATABASE_URL, REDIS_URL, LOG_FILE, SERVICE_NAME and the
toggles SENTINEL_CACHE (off|on), SENTINEL_CACHE_TTL_S, SENTINEL_RATELIMIT (off|on|naive|racy),
SENTINEL_RATELIMIT_PER_MIN, SENTINEL_RATELIMIT_WINDOW_S, SENTINEL_SESSIONS (jwt|redis), SENTINEL_SESSION_TTL_S,
SENTINEL_NOTIFY (poll|pubsub), SENTINEL_NOTIFY_POLL_S, SENTINEL_JWT_SECRET, SENTINEL_ADMIN_TOKEN
(unset: no fault-injection endpoint), SENTINEL_DB_POOL_SIZE, SENTINEL_PASSWORD_ITERATIONS. Data: ``python -m stack.api.seed``;
benchmark: ``python -m stack.api.bench``. Health at /health, Prometheus at /metrics, docs at /docs.
"""
