"""P1 notifications: a new incident is published on Redis pub/sub and pushed to SSE clients.

One subscriber per process (pattern ``sentinel:notifications:*``) fans events
out to the tenant's connected clients, so a thousand open streams cost one
Redis connection. Each event carries ``published_at`` (server time, ISO UTC with
microseconds) so a client can measure publish→deliver latency.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from stack.api.metrics import Metrics

log = logging.getLogger("sentinel.notify")
CHANNEL = "sentinel:notifications:"


def event_for(incident: dict) -> dict:
    return {"incident_id": incident["id"], "tenant_id": incident["tenant_id"], "title": incident["title"],
            "severity": incident["severity"], "service": incident["service"],
            "published_at": datetime.now(timezone.utc).isoformat(timespec="microseconds")}


class Hub:
    def __init__(self, redis: aioredis.Redis, metrics: Metrics):
        self.redis, self.metrics = redis, metrics
        self._clients: dict[int, set[asyncio.Queue]] = {}
        self._task: asyncio.Task | None = None
        self.ready = asyncio.Event()  # set while the subscription is live

    async def publish(self, incident: dict) -> None:
        """Publish without failing the write: a Redis outage only costs the notification (and is counted)."""
        try:
            await self.redis.publish(f"{CHANNEL}{incident['tenant_id']}", orjson.dumps(event_for(incident)))
            self.metrics.notifications_published.inc()
        except (RedisError, OSError) as exc:
            self.metrics.redis_errors.labels("notify").inc()
            log.warning("notification for incident %s not published: %s", incident["id"], exc)

    def subscribe(self, tenant_id: int) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue(maxsize=1000)
        self._clients.setdefault(tenant_id, set()).add(queue)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._listen())
        return queue

    def unsubscribe(self, tenant_id: int, queue: asyncio.Queue) -> None:
        self._clients.get(tenant_id, set()).discard(queue)

    async def _listen(self) -> None:
        """Forward every published event to the tenant's queues; reconnect after Redis trouble."""
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.psubscribe(f"{CHANNEL}*")
                    async for message in pubsub.listen():
                        if message["type"] == "psubscribe":
                            self.ready.set()
                        elif message["type"] == "pmessage":
                            self._dispatch(orjson.loads(message["data"]))
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                self.ready.clear()
                self.metrics.redis_errors.labels("notify").inc()
                log.warning("notification subscriber lost Redis, retrying in 1s: %s", exc)
                await asyncio.sleep(1)

    def _dispatch(self, event: dict) -> None:
        for queue in list(self._clients.get(event.get("tenant_id"), ())):
            if not queue.full():
                queue.put_nowait(event)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
