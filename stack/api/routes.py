"""The /api/v1 endpoints: auth, dashboard, incidents, notifications (stream and poll)."""
from __future__ import annotations

import asyncio
from typing import Literal

import orjson
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from stack import jsonlog
from stack.api import codec, queries
from stack.api.passwords import hash_password, iterations_of, verify_password
from stack.api.login_guard import FAILURES as LOGIN_FAILURES
from stack.api.login_guard import WINDOW_MS as LOGIN_WINDOW_MS
from stack.api.sessions import Principal, SessionError, SessionsUnavailable
from stack.api.storable import BIGINT_MAX, StorableText
from stack.worker.app import INCIDENT_CREATED

Severity = Literal["critical", "high", "medium", "low"]
Status = Literal["open", "acknowledged", "resolved"]


class Login(BaseModel):
    username: StorableText = Field(min_length=1, max_length=100)
    password: StorableText = Field(min_length=1, max_length=200)


class NewIncident(BaseModel):
    title: StorableText = Field(min_length=1, max_length=200)
    severity: Severity
    service: StorableText = Field(min_length=1, max_length=64)
    body: StorableText = Field("", max_length=10_000)


class IncidentChange(BaseModel):
    status: Status | None = None
    severity: Severity | None = None
    title: StorableText | None = Field(None, min_length=1, max_length=200)
    body: StorableText | None = Field(None, max_length=10_000)


def json(data, status: int = 200) -> Response:
    return Response(orjson.dumps(data, default=codec.response_default), status_code=status,
                    media_type="application/json")


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, "send Authorization: Bearer <access_token> from POST /api/v1/auth/login",
                            headers={"WWW-Authenticate": "Bearer"})
    return token


async def principal(request: Request) -> Principal:
    """The logged-in user; 401 for a bad, expired or ended session; 429 past the rate limit."""
    app = request.app.state.sentinel
    try:
        who = await app.sessions.resolve(_bearer(request))
    except SessionError as exc:
        raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
    except SessionsUnavailable as exc:
        raise HTTPException(503, str(exc)) from None
    jsonlog.tenant.set(who.tenant_id)
    request.state.tenant = who.tenant_id  # for the request log line, written outside this task's context
    if app.ratelimiter is not None:
        route = request.scope.get("route")
        decision = await app.ratelimiter.check(who.user_id, f"{request.method}:{getattr(route, 'path', '?')}")
        if not decision.admitted:
            raise HTTPException(429, f"rate limit of {app.ratelimiter.limit} requests in "
                                     f"{app.ratelimiter.window_s:g}s on this endpoint reached; "
                                     f"retry in {decision.retry_after_s}s",
                                headers={"Retry-After": str(decision.retry_after_s)})
    return who


router = APIRouter(prefix="/api/v1")


@router.post("/auth/login", tags=["auth"], summary="Log in; returns a bearer token",
             description=f"After {LOGIN_FAILURES} failed attempts for one username within "
                         f"{LOGIN_WINDOW_MS // 60_000} minutes, attempts get 429 until the window ends.")
async def login(body: Login, request: Request):
    app = request.app.state.sentinel
    wait_s = await app.login_guard.retry_after_s(body.username)
    if wait_s:
        raise HTTPException(429, f"too many failed logins for this username; retry in {wait_s}s",
                            headers={"Retry-After": str(wait_s)})
    pool = app.pool_for_login(body.username)
    user = await queries.find_user(pool, body.username)
    # PBKDF2 at hundreds of thousands of iterations takes CPU-seconds: never on the event loop
    if user is None or not await asyncio.to_thread(verify_password, body.password, user["password_hash"]):
        await app.login_guard.failed(body.username)
        raise HTTPException(401, "unknown username or wrong password")
    if iterations_of(user["password_hash"]) < app.config.password_iterations:
        stronger = await asyncio.to_thread(hash_password, body.password, None, app.config.password_iterations)
        await queries.set_password_hash(pool, user["id"], stronger)
    try:
        token = await app.sessions.create(user["id"], user["tenant_id"])
    except SessionsUnavailable as exc:
        raise HTTPException(503, str(exc)) from None
    return {"access_token": token, "token_type": "bearer", "expires_in": app.config.session_ttl_s,
            "tenant_id": user["tenant_id"], "user_id": user["id"]}


@router.post("/auth/logout", tags=["auth"], summary="End the session (the token stops working)")
async def logout(request: Request, who: Principal = Depends(principal)):
    await request.app.state.sentinel.sessions.end(who)
    return {"logged_out": True}


@router.get("/dashboard/{tenant_id}", tags=["dashboard"],
            summary="Counts by status and severity, MTTR and top services over 24 h and 7 d")
async def dashboard(request: Request, response: Response, tenant_id: int = Path(le=BIGINT_MAX),
                    who: Principal = Depends(principal)):
    app = request.app.state.sentinel
    # authorization before existence: another tenant's id gets 403 whether or not it exists
    if tenant_id != who.tenant_id:
        raise HTTPException(403, f"you belong to tenant {who.tenant_id}, not {tenant_id}")
    pool = app.pool_for(tenant_id)
    if not await queries.tenant_exists(pool, tenant_id):
        raise HTTPException(404, f"no tenant {tenant_id}")
    if app.cache is None:
        data, source = await queries.dashboard(pool, tenant_id), "off"
    else:
        data, source = await app.cache.get(tenant_id, lambda: queries.dashboard(pool, tenant_id))
    reply = json(data)
    reply.headers["x-cache"] = source
    return reply


@router.get("/incidents", tags=["incidents"], summary="The tenant's incidents, newest first, paginated")
async def list_incidents(request: Request, who: Principal = Depends(principal), status: Status | None = None,
                         severity: Severity | None = None, service: StorableText | None = Query(None, max_length=64),
                         page: int = Query(1, ge=1, le=10_000), page_size: int = Query(50, ge=1, le=200)):
    return json(await queries.list_incidents(request.app.state.sentinel.pool_for(who.tenant_id), who.tenant_id, status=status,
                                             severity=severity, service=service, page=page, page_size=page_size))


@router.get("/incidents/{incident_id}", tags=["incidents"], summary="One incident of your tenant")
async def get_incident(request: Request, incident_id: int = Path(le=BIGINT_MAX),
                       who: Principal = Depends(principal)):
    row = await queries.get_incident(request.app.state.sentinel.pool_for(who.tenant_id), who.tenant_id, incident_id)
    if row is None:
        raise HTTPException(404, f"no incident {incident_id} in tenant {who.tenant_id}")
    return json(row)


@router.post("/incidents", tags=["incidents"], status_code=201, summary="Open an incident")
async def create_incident(body: NewIncident, request: Request, who: Principal = Depends(principal)):
    app = request.app.state.sentinel
    row, task_args = await queries.create_incident(app.pool_for(who.tenant_id), who.tenant_id, who.user_id,
                                                   body.model_dump(), INCIDENT_CREATED)
    await app.after_write(who.tenant_id)
    if app.hub is not None:
        await app.hub.publish(row)
    app.tasks.send(INCIDENT_CREATED, task_args)
    return json(row, 201)


@router.patch("/incidents/{incident_id}", tags=["incidents"], summary="Change status, severity, title or body")
async def update_incident(body: IncidentChange, request: Request, incident_id: int = Path(le=BIGINT_MAX),
                          who: Principal = Depends(principal)):
    app = request.app.state.sentinel
    fields = body.model_dump(exclude_none=True)
    if not fields:
        raise HTTPException(422, "send at least one of status, severity, title, body")
    row = await queries.update_incident(app.pool_for(who.tenant_id), who.tenant_id, incident_id, fields)
    if row is None:
        raise HTTPException(404, f"no incident {incident_id} in tenant {who.tenant_id}")
    await app.after_write(who.tenant_id)
    return json(row)


@router.get("/notifications", tags=["notifications"], summary="Poll: incidents created after the cursor")
async def poll(request: Request, who: Principal = Depends(principal), after: int | None = Query(None, ge=0, le=BIGINT_MAX)):
    """Without ``after``: no items, just the current cursor to poll from."""
    pool = request.app.state.sentinel.pool_for(who.tenant_id)
    if after is None:
        return json({"items": [], "cursor": await queries.latest_incident_id(pool, who.tenant_id)})
    items = await queries.incidents_since(pool, who.tenant_id, after)
    return json({"items": items, "cursor": items[-1]["incident_id"] if items else after})


@router.get("/notifications/stream", tags=["notifications"], response_class=StreamingResponse,
            summary="Server-Sent Events: one `incident` event per new incident of your tenant")
async def stream(request: Request, who: Principal = Depends(principal)):
    app = request.app.state.sentinel
    return StreamingResponse(_events(request, app, who.tenant_id), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _events(request: Request, app, tenant_id: int):
    """pubsub: events pushed from Redis; poll: the server polls Postgres every second for the client."""
    if app.hub is not None:
        queue = app.hub.subscribe(tenant_id)
        try:
            await asyncio.wait_for(app.hub.ready.wait(), 2)
        except asyncio.TimeoutError:
            pass
        yield b": ready\n\n"
        try:
            while not await request.is_disconnected():
                try:
                    event = await asyncio.wait_for(queue.get(), 15)
                except asyncio.TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                app.metrics.notifications_delivered.inc()
                yield b"event: incident\ndata: " + orjson.dumps(event) + b"\n\n"
        finally:
            app.hub.unsubscribe(tenant_id, queue)
        return
    pool = app.pool_for(tenant_id)
    cursor = await queries.latest_incident_id(pool, tenant_id)
    yield b": ready\n\n"
    while not await request.is_disconnected():
        await asyncio.sleep(app.config.notify_poll_s)
        for row in await queries.incidents_since(pool, tenant_id, cursor):
            cursor = row["incident_id"]
            event = {**row, "published_at": row["created_at"].isoformat(timespec="microseconds")}
            app.metrics.notifications_delivered.inc()
            yield b"event: incident\ndata: " + orjson.dumps(event, default=codec.response_default) + b"\n\n"
