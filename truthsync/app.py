"""The TruthSync HTTP API: /verify, /verify/batch, /health, /ready, /metrics; its contract at /openapi.json.

Bodies are read by hand with a size cap and parsed with orjson, so bad input
(too big, not UTF-8, not JSON, empty) is a 4xx with a message before any work
is done. Paths are relative and nothing redirects, so the service works
behind Nginx's prefix-stripping ``/truthsync/`` location.
"""
from __future__ import annotations

import logging
import time
import uuid
from contextlib import asynccontextmanager

import orjson
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from truthsync import contract
from truthsync.config import Config
from truthsync.engine import Verifier
from truthsync.factstore import FactStore, FactStoreError
from truthsync.local_cache import LocalCache
from truthsync.metrics import Metrics
from truthsync.shared_cache import SharedCache

log = logging.getLogger("truthsync.http")


def _json(data, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


async def _body(request: Request, limit: int):
    """The parsed JSON body; 413 past ``limit`` bytes (checked while reading), 400 if not UTF-8 JSON."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"body of {declared} bytes exceeds {limit} (TRUTHSYNC_MAX_BODY_BYTES); "
                                 "split the text or use several requests")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, f"body exceeds {limit} bytes (TRUTHSYNC_MAX_BODY_BYTES); split the text")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        try:
            bytes(body).decode("utf-8")
        except UnicodeDecodeError as bad:
            raise HTTPException(400, f"body is not valid UTF-8 (byte {bad.start}); send UTF-8 JSON") from None
        raise HTTPException(400, f"body is not JSON ({exc}); send {{\"text\": \"...\"}}") from None


def _text(value, where: str) -> str:
    if not isinstance(value, str):
        raise HTTPException(422, f"{where} must be a string")
    if not value.strip():
        raise HTTPException(422, f"{where} is empty; send the text to verify")
    return value


def create_app(config: Config | None = None) -> FastAPI:
    """The app for one instance; ``python -m truthsync`` serves it with uvicorn."""
    config = config or Config.from_env()
    registry = CollectorRegistry()
    l1: LocalCache = LocalCache(config.l1_size, config.l1_ttl_s)
    metrics = Metrics(registry, l1_size=lambda: len(l1))
    store = FactStore(config.database_url, config.db_pool)
    l2 = SharedCache(config.cache_redis_url or config.redis_url, config.l2_ttl_s, config.l2_timeout_s,
                     on_error=metrics.l2_errors.inc) if config.l2 else None
    verifier = Verifier(store, l1, l2, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await store.open()
        log.info("started", extra={"l2": config.l2, "l1_size": config.l1_size, "l1_ttl_s": config.l1_ttl_s})
        yield
        if l2 is not None:
            await l2.close()
        await store.close()

    app = FastAPI(title="TruthSync", lifespan=lifespan, redirect_slashes=False,
                  docs_url=None, redoc_url=None, openapi_url="/openapi.json")
    app.state.verifier, app.state.config = verifier, config

    @app.middleware("http")
    async def observe(request: Request, call_next):
        start = time.perf_counter()
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        response = await call_next(request)
        elapsed = time.perf_counter() - start
        endpoint = metrics.endpoint(request.url.path)
        metrics.requests.labels(endpoint, str(response.status_code)).inc()
        metrics.duration.labels(endpoint).observe(elapsed)
        response.headers["x-request-id"] = request_id
        response.headers["x-truthsync-instance"] = config.service_name
        if endpoint != "/metrics":
            log.info("request", extra={"request_id": request_id, "method": request.method, "path": request.url.path,
                                       "status": response.status_code, "duration_ms": round(elapsed * 1e3, 3)})
        return response

    @app.exception_handler(FactStoreError)
    async def store_down(request: Request, exc: FactStoreError):
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.post("/verify", **contract.verify(config))
    async def verify(request: Request):
        body = await _body(request, config.max_body_bytes)
        if not isinstance(body, dict) or "text" not in body:
            raise HTTPException(422, 'send a JSON object {"text": "..."}')
        [result] = await verifier.verify([_text(body["text"], "text")])
        return _json(result)

    @app.post("/verify/batch", **contract.verify_batch(config))
    async def verify_batch(request: Request):
        body = await _body(request, config.max_body_bytes)
        texts = body.get("texts") if isinstance(body, dict) else None
        if not isinstance(texts, list) or not texts:
            raise HTTPException(422, 'send a JSON object {"texts": ["...", ...]} with at least one text')
        if len(texts) > config.batch_max:
            raise HTTPException(413, f"batch of {len(texts)} texts exceeds TRUTHSYNC_BATCH_MAX={config.batch_max}; "
                                     "split it into smaller batches")
        texts = [_text(t, f"texts[{i}]") for i, t in enumerate(texts)]
        start = time.perf_counter_ns()
        results = await verifier.verify(texts)
        return _json({"results": results, "micros": (time.perf_counter_ns() - start) / 1e3})

    @app.get("/health")
    async def health():
        return _json({"status": "ok", "service": config.service_name, "l2": config.l2, "l1_entries": len(l1)})

    @app.get("/ready")
    async def ready():
        try:
            count = await store.fact_count()
        except Exception as exc:  # any failure means "not ready"; the message says what broke
            return _json({"ready": False, "detail": f"fact store unreachable: {exc}"}, 503)
        if not count:
            return _json({"ready": False, "detail": "fact store is empty: load it with "
                          "python -m truthsync.factstore load --dsn $DATABASE_URL --dataset DIR"}, 503)
        return _json({"ready": True, "facts": count})

    @app.get("/metrics")
    async def prometheus_metrics():
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
