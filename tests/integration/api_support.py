"""Helpers for the API's integration tests: a seeded database per module and the app served on a real port."""
from __future__ import annotations

import asyncio
import contextlib
import uuid

import httpx
import psycopg
import uvicorn

from stack.api.app import create_app
from stack.api.config import ApiConfig
from stack.api.passwords import SEED_ITERATIONS
from stack.api.seed import logins, seed


def seeded_database(admin_dsn: str, name: str) -> str:
    """A fresh database ``name`` holding the small data set; returns its DSN."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    dsn = admin_dsn.rsplit("/", 1)[0] + "/" + name
    seed(dsn, "small")
    return dsn


def config(dsn: str, redis_url: str, **toggles) -> ApiConfig:
    toggles.setdefault("jwt_secret", "test-secret-" + uuid.uuid4().hex)
    toggles.setdefault("password_iterations", SEED_ITERATIONS)  # 600,000 would make every login cost seconds
    return ApiConfig(database_url=dsn, redis_url=redis_url, **toggles)


@contextlib.asynccontextmanager
async def serve(cfg: ApiConfig):
    """The app under uvicorn on a free port in this event loop; yields (app, httpx client on it)."""
    app = create_app(cfg)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False,
                                           lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield app, client
    finally:
        server.should_exit = True
        await task


def user(tenant_id: int = 1, index: int = 0):
    return [u for u in logins("small") if u.tenant_id == tenant_id][index]


async def login(client: httpx.AsyncClient, tenant_id: int = 1, index: int = 0) -> dict:
    u = user(tenant_id, index)
    r = await client.post("/api/v1/auth/login", json={"username": u.username, "password": u.password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def metric(app, name: str, **labels) -> float:
    value = app.state.sentinel.metrics.registry.get_sample_value(name, labels or None)
    return value or 0.0
