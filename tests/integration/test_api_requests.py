"""Notifications (pub/sub and poll), fault injection, Celery enqueue and bad input, against real services."""
import asyncio
import json
import logging
from datetime import datetime, timezone

import orjson
import psycopg
import pytest
import redis
from api_support import config, login, metric, seeded_database, serve

from stack import jsonlog

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
NEW = {"title": "disk almost full", "severity": "high", "service": "postgres"}


@pytest.fixture(scope="module")
def dsn(pg_dsn):
    return seeded_database(pg_dsn, "api_requests")


async def _first_event(client, headers, ready: asyncio.Event) -> dict:
    async with client.stream("GET", "/api/v1/notifications/stream", headers=headers) as stream:
        assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
        async for line in stream.aiter_lines():
            if line == ": ready":
                ready.set()
            if line.startswith("data: "):
                return json.loads(line[len("data: "):]) | {"received_at": datetime.now(timezone.utc)}


@pytest.mark.parametrize("mode", ["pubsub", "poll"])
async def test_a_new_incident_reaches_an_sse_client(dsn, redis_url, mode):
    async with serve(config(dsn, redis_url, notify=mode, notify_poll_s=0.2)) as (app, client):
        headers = await login(client, tenant_id=2)
        ready = asyncio.Event()
        listener = asyncio.create_task(_first_event(client, headers, ready))
        await asyncio.wait_for(ready.wait(), 10)
        created = (await client.post("/api/v1/incidents", headers=headers, json=NEW)).json()
        event = await asyncio.wait_for(listener, 10)
        assert event["incident_id"] == created["id"]
        published = datetime.fromisoformat(event["published_at"])
        assert published.tzinfo is not None and published <= event["received_at"]
        assert metric(app, "sentinel_notifications_delivered_total") == 1
        assert metric(app, "sentinel_notifications_published_total") == (1 if mode == "pubsub" else 0)


async def test_the_poll_endpoint_returns_incidents_after_the_cursor(dsn, redis_url):
    async with serve(config(dsn, redis_url)) as (app, client):
        headers = await login(client, tenant_id=3)
        cursor = (await client.get("/api/v1/notifications", headers=headers)).json()["cursor"]
        created = (await client.post("/api/v1/incidents", headers=headers, json=NEW)).json()
        body = (await client.get("/api/v1/notifications", headers=headers, params={"after": cursor})).json()
        assert [i["incident_id"] for i in body["items"]] == [created["id"]] and body["cursor"] == created["id"]
        assert body["items"][0]["created_at"] == created["opened_at"]


async def test_creating_an_incident_enqueues_the_worker_task(dsn, redis_url):
    broker = redis.Redis.from_url(redis_url)
    broker.delete("celery")
    async with serve(config(dsn, redis_url)) as (app, client):
        headers = await login(client)
        created = (await client.post("/api/v1/incidents", headers=headers, json=NEW)).json()
        for _ in range(100):
            if metric(app, "sentinel_tasks_enqueued_total", outcome="sent"):
                break
            await asyncio.sleep(0.05)
    message = json.loads(broker.lpop("celery"))
    assert message["headers"]["task"] == "sentinel.incident_created"
    incident, tenant, outbox = json.loads(__import__("base64").b64decode(message["body"]))[0]
    assert [incident, tenant] == [created["id"], 1]
    with psycopg.connect(dsn) as conn:  # written with the incident: the worker's sweep re-sends it if lost
        row = conn.execute("SELECT task, args, done_at FROM task_outbox WHERE id = %s", (outbox,)).fetchone()
    assert row == ("sentinel.incident_created", [created["id"], 1], None)


async def test_creating_an_incident_with_redis_down_still_succeeds(dsn, private_redis):
    async with serve(config(dsn, private_redis.url, notify="pubsub")) as (app, client):
        headers = await login(client)
        private_redis.stop()
        reply = await client.post("/api/v1/incidents", headers=headers, json=NEW)
        assert reply.status_code == 201
        for _ in range(100):
            if metric(app, "sentinel_tasks_enqueued_total", outcome="failed"):
                break
            await asyncio.sleep(0.05)
        assert metric(app, "sentinel_tasks_enqueued_total", outcome="failed") == 1
        assert (await client.get("/health")).status_code == 200


async def test_no_admin_token_means_no_fault_endpoint(dsn, redis_url):
    async with serve(config(dsn, redis_url)) as (app, client):
        assert (await client.post("/api/v1/admin/faults", json={"error_rate": 1})).status_code == 404


async def test_injected_faults_are_applied_logged_and_cleared(dsn, redis_url, caplog):
    admin = {"Authorization": "Bearer admin-secret"}
    async with serve(config(dsn, redis_url, admin_token="admin-secret")) as (app, client):
        headers = await login(client)
        assert (await client.post("/api/v1/admin/faults", json={"error_rate": 1})).status_code == 401
        body = {"error_rate": 1, "latency_ms": 50, "log_errors": True, "slow_queries": True, "duration_s": 30}
        with caplog.at_level(logging.WARNING, logger="sentinel.faults"):
            assert (await client.post("/api/v1/admin/faults", json=body, headers=admin)).status_code == 200
            faulty = await client.get("/api/v1/incidents", headers=headers)
            assert faulty.status_code == 500 and "injected" in faulty.json()["detail"]
            assert (await client.get("/health")).status_code == 200  # faults hit the API routes only
            assert (await client.delete("/api/v1/admin/faults", headers=admin)).status_code == 200
            assert (await client.get("/api/v1/incidents", headers=headers)).status_code == 200
        kinds = {r.fault for r in caplog.records if hasattr(r, "fault")}
        assert {"set", "latency", "slow_query", "log_error", "error", "cleared"} <= kinds
        assert any(r.levelname == "ERROR" and r.fault == "log_error" for r in caplog.records if hasattr(r, "fault"))
        for kind in ("error", "latency", "slow_query", "log_error"):
            assert metric(app, "sentinel_faults_injected_total", kind=kind) == 1
        too_long = await client.post("/api/v1/admin/faults", json={"duration_s": 10_000}, headers=admin)
        assert too_long.status_code == 422


async def test_an_error_mode_can_spare_a_path_and_only_that_path(dsn, redis_url):
    """P3 plays the API's error mode beside a poisoned dashboard: the mode spares the dashboard."""
    admin = {"Authorization": "Bearer admin-secret"}
    async with serve(config(dsn, redis_url, admin_token="admin-secret")) as (app, client):
        headers = await login(client, tenant_id=2)
        body = {"error_rate": 1, "errors_spare": "/api/v1/dashboard/", "duration_s": 30}
        assert (await client.post("/api/v1/admin/faults", json=body, headers=admin)).status_code == 200
        assert (await client.get("/api/v1/incidents", headers=headers)).status_code == 500
        assert (await client.get("/api/v1/dashboard/2", headers=headers)).status_code == 200
        bad = await client.post("/api/v1/admin/faults", json={**body, "errors_spare": "dashboard"}, headers=admin)
        assert bad.status_code == 422 and "errors_spare" in bad.text


@pytest.mark.parametrize("method, path, payload, status", [
    ("POST", "/api/v1/incidents", b'{"title": ', 422),
    ("POST", "/api/v1/incidents", b'{"title": 5, "severity": "high", "service": "x"}', 422),
    ("POST", "/api/v1/incidents", b'{"title": "t", "severity": "apocalyptic", "service": "x"}', 422),
    ("POST", "/api/v1/incidents", b'[1, 2]', 422),
    ("POST", "/api/v1/incidents", b'{"title": "' + b"x" * 100_000 + b'"}', 413),
    ("PATCH", "/api/v1/incidents/1", b'{}', 422),
    ("PATCH", "/api/v1/incidents/1", b'{"status": "closed"}', 422),
    ("GET", "/api/v1/incidents/not-a-number", None, 422),
    ("GET", "/api/v1/incidents/999999999", None, 404),
    ("GET", "/api/v1/incidents?page=0", None, 422),
    ("GET", "/api/v1/dashboard/999", None, 403),  # authorization before existence
    ("GET", "/api/v1/dashboard/2", None, 403),
    ("GET", "/api/v1/dashboard/abc", None, 422),
    ("POST", "/api/v1/auth/login", b'{"username": 5}', 422),
])
async def test_bad_input_is_a_4xx_with_a_message(dsn, redis_url, method, path, payload, status):
    async with serve(config(dsn, redis_url)) as (app, client):
        headers = await login(client) | {"content-type": "application/json"}
        reply = await client.request(method, path, content=payload, headers=headers)
        assert reply.status_code == status, reply.text
        assert reply.json()["detail"]


async def test_openapi_documents_every_endpoint_and_metrics_are_exported(dsn, redis_url):
    async with serve(config(dsn, redis_url)) as (app, client):
        paths = (await client.get("/openapi.json")).json()["paths"]
        assert {"/api/v1/auth/login", "/api/v1/auth/logout", "/api/v1/dashboard/{tenant_id}", "/api/v1/incidents",
                "/api/v1/incidents/{incident_id}", "/api/v1/notifications", "/api/v1/notifications/stream",
                "/health"} <= set(paths)
        await client.get("/health")
        text = (await client.get("/metrics")).text
        assert 'http_requests_total{handler="/health",method="GET",status="200"}' in text
        assert "http_request_duration_seconds_bucket" in text and "sentinel_db_queries_total" in text


async def test_an_oversized_chunked_body_is_a_413_and_a_small_one_is_served(dsn, redis_url):
    async def chunks():
        for _ in range(20):
            yield b"x" * 8192

    async with serve(config(dsn, redis_url)) as (app, client):
        headers = await login(client) | {"content-type": "application/json"}
        reply = await client.post("/api/v1/incidents", content=chunks(), headers=headers)
        assert reply.status_code == 413 and "limit" in reply.json()["detail"], reply.text

        async def small():
            yield orjson.dumps(NEW)

        assert (await client.post("/api/v1/incidents", content=small(), headers=headers)).status_code == 201


async def test_each_request_is_one_json_log_line_with_its_context(dsn, redis_url, tmp_path):
    handler = logging.FileHandler(tmp_path / "api.log")
    handler.setFormatter(jsonlog.JsonLines("api"))
    logger = logging.getLogger("sentinel.http")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        async with serve(config(dsn, redis_url)) as (app, client):
            headers = await login(client, tenant_id=2)
            await client.get("/api/v1/incidents", headers=headers | {"x-request-id": "probe-42"})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        handler.close()
    lines = [json.loads(line) for line in (tmp_path / "api.log").read_text().splitlines()]
    matching = [x for x in lines if x.get("request_id") == "probe-42"]
    assert len(matching) == 1, lines
    line = matching[0]
    assert line["tenant"] == 2 and line["status"] == 200 and line["duration_ms"] > 0
    assert line["level"] == "INFO" and line["logger"] == "sentinel.http" and line["timestamp"].endswith("+00:00")
