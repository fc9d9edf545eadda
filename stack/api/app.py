"""The Sentinel API app: wiring of the toggles, request logging, fault injection, /health and /metrics."""
from __future__ import annotations

import logging
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass

import redis.asyncio as aioredis
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from prometheus_fastapi_instrumentator import Instrumentator
from psycopg import OperationalError
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from redis.backoff import NoBackoff
from redis.retry import Retry

from stack import jsonlog, lab_probe
from stack.api import routes
from stack.api.cache import DashboardCache
from stack.api.config import ApiConfig
from stack.api.db import apply_schema, make_pool
from stack.api.faults import Faults, admin_router
from stack.api.login_guard import LoginGuard
from stack.api.metrics import Metrics
from stack.api.notify import Hub
from stack.api import ratelimit
from stack.api.ratelimit import RateLimiter
from stack.api.sessions import JwtSessions, RedisSessions
from stack.api.tasks import TaskQueue

log = logging.getLogger("sentinel.http")


@dataclass
class Sentinel:
    """Everything a request handler needs, built once per app from the toggles."""

    config: ApiConfig
    metrics: Metrics
    pool: AsyncConnectionPool
    redis: aioredis.Redis
    sessions: JwtSessions | RedisSessions
    cache: DashboardCache | None
    ratelimiter: RateLimiter | None
    hub: Hub | None
    tasks: TaskQueue
    faults: Faults
    login_guard: LoginGuard
    probe_pool: AsyncConnectionPool | None = None  # the probe tenant's statements, as the probes' role

    def pool_for(self, tenant_id: int | None) -> AsyncConnectionPool:
        """The probe tenant's requests use the probes' pool, so their statements are never the workload's."""
        return self.probe_pool if self.probe_pool is not None and lab_probe.is_probe_tenant(tenant_id) else self.pool

    def pool_for_login(self, username: str) -> AsyncConnectionPool:
        return self.pool_for(lab_probe.TENANT_ID if username == lab_probe.USERNAME else None)

    async def after_write(self, tenant_id: int) -> None:
        """Runs before a write's response: the tenant's cached dashboard must never be served again."""
        if self.cache is not None and not self.faults.keeps_stale_cache(self.metrics):
            await self.cache.invalidate(tenant_id)


def build(config: ApiConfig) -> Sentinel:
    metrics = Metrics()
    def client(url: str) -> aioredis.Redis:
        return aioredis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5,
                                       retry=Retry(NoBackoff(), 0), health_check_interval=0)
    redis = client(config.redis_url)
    cache_url = config.cache_redis_url or config.redis_url  # the evictable instance (analysis.redis_instances)
    cache_redis = redis if cache_url == config.redis_url else client(cache_url)
    sessions = (RedisSessions(redis, config.session_ttl_s, metrics) if config.sessions == "redis"
                else JwtSessions(redis, config.jwt_secret, config.session_ttl_s, metrics))
    return Sentinel(
        config=config, metrics=metrics, pool=make_pool(config.database_url, config.db_pool_size, metrics.db_queries),
        redis=redis, sessions=sessions,
        cache=DashboardCache(redis, config.cache_ttl_s, metrics, values=cache_redis) if config.cache_on else None,
        ratelimiter=ratelimit.make(config.ratelimit, redis, config.ratelimit_per_min, config.ratelimit_window_s,
                                   metrics),
        hub=Hub(redis, metrics) if config.notify == "pubsub" else None,
        tasks=TaskQueue(config.redis_url, metrics), faults=Faults(), login_guard=LoginGuard(redis, metrics),
        probe_pool=(make_pool(config.probe_database_url, 2, metrics.probe_db_queries)
                    if config.probe_database_url else None))


class BodySizeLimit:
    """413 with a JSON message when a body exceeds the limit: at once when Content-Length says so;
    a chunked body is read (up to the limit, so at most that much is buffered) before the app sees it."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            declared = headers.get(b"content-length", b"")
            if declared.isdigit() and int(declared) > self.limit:
                return await self._refuse(f"body of {int(declared)} bytes", scope, receive, send)
            if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
                messages, size, more = [], 0, True
                while more:
                    message = await receive()
                    messages.append(message)
                    size += len(message.get("body", b""))
                    more = message["type"] == "http.request" and message.get("more_body", False)
                    if size > self.limit:
                        return await self._refuse("chunked body", scope, receive, send)
                receive = self._replay(messages, receive)
        await self.app(scope, receive, send)

    async def _refuse(self, what: str, scope, receive, send):
        reply = JSONResponse({"detail": f"{what} exceeds the {self.limit}-byte limit; send a smaller body"},
                             status_code=413)
        await reply(scope, receive, send)

    @staticmethod
    def _replay(messages: list, receive):
        async def replayed():
            return messages.pop(0) if messages else await receive()
        return replayed


def create_app(config: ApiConfig | None = None) -> FastAPI:
    """The app for one process; ``python -m stack.api`` serves it with uvicorn."""
    config = config or ApiConfig.from_env()
    sentinel = build(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        apply_schema(config.database_url)
        await sentinel.pool.open(wait=True, timeout=30)
        if sentinel.probe_pool is not None:
            await sentinel.probe_pool.open(wait=True, timeout=30)
        if config.jwt_secret_generated and config.sessions == "jwt":
            log.warning("SENTINEL_JWT_SECRET unset: tokens signed with a random secret die with this process")
        log.info("started", extra={"cache": config.cache, "ratelimit": config.ratelimit, "sessions": config.sessions,
                                   "notify": config.notify, "admin": config.admin_token is not None})
        yield
        if sentinel.hub is not None:
            await sentinel.hub.close()
        await sentinel.tasks.close()
        await sentinel.redis.aclose()
        if sentinel.cache is not None and sentinel.cache.values is not sentinel.redis:
            await sentinel.cache.values.aclose()
        await sentinel.pool.close()
        if sentinel.probe_pool is not None:
            await sentinel.probe_pool.close()

    app = FastAPI(title="Sentinel API", version="1.0", lifespan=lifespan,
                  description="Multi-tenant incident API; every optimisation pattern is an environment toggle.")
    app.state.sentinel = sentinel

    @app.middleware("http")
    async def observe(request: Request, call_next):
        start = time.perf_counter()
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex
        jsonlog.request_id.set(rid)
        jsonlog.tenant.set(None)
        api = request.url.path.startswith("/api/v1/") and not request.url.path.startswith("/api/v1/admin")
        if api and sentinel.faults.active and await sentinel.faults.apply(request, sentinel.pool, sentinel.metrics):
            response = JSONResponse({"detail": "injected fault: simulated server error"}, status_code=500)
        else:
            response = await call_next(request)
        response.headers["x-request-id"] = rid
        if request.url.path not in ("/metrics", "/health"):
            log.info("request", extra={"method": request.method, "path": request.url.path,
                                       "tenant": getattr(request.state, "tenant", None),
                                       "status": response.status_code,
                                       "duration_ms": round((time.perf_counter() - start) * 1e3, 3)})
        return response

    @app.exception_handler(PoolTimeout)
    @app.exception_handler(OperationalError)
    async def database_down(request: Request, exc: Exception):
        log.error("database unavailable: %s", exc)
        return JSONResponse({"detail": "database unavailable; retry shortly"}, status_code=503)

    @app.get("/health", tags=["ops"], summary="200 when the API can serve")
    async def health():
        return {"status": "ok", "service": config.service_name, "cache": config.cache, "ratelimit": config.ratelimit,
                "sessions": config.sessions, "notify": config.notify}

    app.add_middleware(BodySizeLimit, limit=config.max_body_bytes)
    app.include_router(routes.router)
    if config.admin_token:
        app.include_router(admin_router(sentinel.faults, config.admin_token))
    Instrumentator(registry=sentinel.metrics.registry, excluded_handlers=["/metrics"],
                   should_group_status_codes=False).instrument(app).expose(
        app, include_in_schema=False)
    return app
