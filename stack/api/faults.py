"""Fault injection for experiments: errors, latency, logged exceptions, slow queries and a cache that
is not invalidated on writes, for a bounded time.

Only mounted when ``SENTINEL_ADMIN_TOKEN`` is set. Every injected fault is logged
at WARNING with a ``fault`` field and counted in ``sentinel_faults_injected_total{kind}``:
the ground truth an experiment compares its detectors against.
"""
from __future__ import annotations

import asyncio
import hmac
import logging
import random
import time
from dataclasses import asdict, dataclass

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field
from psycopg_pool import AsyncConnectionPool

from stack.api.metrics import Metrics

log = logging.getLogger("sentinel.faults")
MAX_DURATION_S = 600
SLOW_QUERY_S = 0.5


class FaultRequest(BaseModel):
    error_rate: float = Field(0.0, ge=0, le=1, description="share of API requests answered 500")
    errors_spare: str = Field("", max_length=200, pattern=r"^(/\S*)?$",
                              description="API paths starting with this are spared by error_rate (P3 keeps "
                                          "the dashboard's own fault separable)")
    latency_ms: int = Field(0, ge=0, le=30_000, description="latency added to every API request")
    log_errors: bool = Field(False, description="log an exception at ERROR on every API request")
    slow_queries: bool = Field(False, description=f"run a {SLOW_QUERY_S}s query on every API request")
    skip_invalidation: bool = Field(False, description="writes leave the tenant's cached dashboard in place "
                                                       "(a positive control for the stale-read probe)")
    duration_s: float = Field(60, gt=0, le=MAX_DURATION_S, description="the faults end by themselves after this")


@dataclass
class Faults:
    error_rate: float = 0.0
    errors_spare: str = ""
    latency_ms: int = 0
    log_errors: bool = False
    slow_queries: bool = False
    skip_invalidation: bool = False
    until: float = 0.0  # monotonic

    @property
    def active(self) -> bool:
        return time.monotonic() < self.until

    async def apply(self, request: Request, pool: AsyncConnectionPool, metrics: Metrics) -> bool:
        """Inject what is configured into this request; True when it must be answered with an injected 500."""
        if self.latency_ms:
            self._record(metrics, "latency", request, latency_ms=self.latency_ms)
            await asyncio.sleep(self.latency_ms / 1000)
        if self.slow_queries:
            self._record(metrics, "slow_query", request, seconds=SLOW_QUERY_S)
            async with pool.connection() as conn:
                await conn.execute("SELECT pg_sleep(%s)", (SLOW_QUERY_S,))
        if self.log_errors:
            self._record(metrics, "log_error", request)
            try:
                raise RuntimeError("injected fault: simulated failure while serving the request")
            except RuntimeError:
                log.exception("unhandled error (injected)", extra={"fault": "log_error"})
        spared = bool(self.errors_spare) and request.url.path.startswith(self.errors_spare)
        if self.error_rate and not spared and random.random() < self.error_rate:
            self._record(metrics, "error", request)
            return True
        return False

    def keeps_stale_cache(self, metrics: Metrics) -> bool:
        """True when a write must skip invalidating the cache (the ``skip_invalidation`` fault)."""
        if not (self.skip_invalidation and self.active):
            return False
        metrics.faults_injected.labels("skip_invalidation").inc()
        log.warning("fault injected: skip_invalidation", extra={"fault": "skip_invalidation"})
        return True

    @staticmethod
    def _record(metrics: Metrics, kind: str, request: Request, **detail) -> None:
        metrics.faults_injected.labels(kind).inc()
        log.warning("fault injected: %s", kind, extra={"fault": kind, "path": request.url.path, **detail})


def admin_router(faults: Faults, token: str) -> APIRouter:
    def authorised(request: Request) -> None:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise HTTPException(401, "admin endpoints need Authorization: Bearer $SENTINEL_ADMIN_TOKEN")

    router = APIRouter(prefix="/api/v1/admin", tags=["admin"], dependencies=[Depends(authorised)])

    @router.post("/faults", summary="Inject faults for a bounded time")
    async def set_faults(body: FaultRequest):
        faults.error_rate, faults.latency_ms = body.error_rate, body.latency_ms
        faults.errors_spare = body.errors_spare
        faults.log_errors, faults.slow_queries = body.log_errors, body.slow_queries
        faults.skip_invalidation = body.skip_invalidation
        faults.until = time.monotonic() + body.duration_s
        log.warning("faults set", extra={"fault": "set", **body.model_dump()})
        return {**asdict(faults), "until": None, "active": True, "duration_s": body.duration_s}

    @router.delete("/faults", summary="Clear every injected fault")
    async def clear_faults():
        faults.until = 0.0
        log.warning("faults cleared", extra={"fault": "cleared"})
        return {"active": False}

    @router.get("/faults", summary="The faults in force")
    async def get_faults():
        return {**asdict(faults), "until": None, "active": faults.active,
                "remaining_s": max(0.0, round(faults.until - time.monotonic(), 3))}

    return router
