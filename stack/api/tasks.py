"""Enqueue Celery tasks for the worker without importing it and without blocking or failing a request.

A bare ``Celery(broker=REDIS_URL)`` client sends by task name; the send runs in
a thread in the background, with no connection retries, and each outcome is
counted in ``sentinel_tasks_enqueued_total{outcome}``. A task the route wrote to the outbox
(``queries.create_incident``) and could not send is re-sent by the worker's sweep.
"""
from __future__ import annotations

import asyncio
import logging

from celery import Celery

from stack.api.metrics import Metrics

log = logging.getLogger("sentinel.tasks")


class TaskQueue:
    def __init__(self, broker_url: str, metrics: Metrics):
        self.metrics = metrics
        self.celery = Celery("sentinel-api", broker=broker_url, set_as_current=False)
        self.celery.conf.update(broker_connection_retry=False, broker_connection_max_retries=0,
                                broker_transport_options={"socket_timeout": 1, "socket_connect_timeout": 1,
                                                          "max_retries": 0})
        self._pending: set[asyncio.Task] = set()

    def send(self, name: str, args: list) -> None:
        """Fire and forget: returns at once; the outcome shows in the metric and the log."""
        task = asyncio.create_task(asyncio.to_thread(self._send, name, args))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def _send(self, name: str, args: list) -> None:
        try:
            self.celery.send_task(name, args=args, retry=False)
            self.metrics.tasks_enqueued.labels("sent").inc()
        except Exception as exc:  # any broker failure: the request already succeeded, count and log it
            self.metrics.tasks_enqueued.labels("failed").inc()
            log.warning("task %s not enqueued: %s", name, exc, extra={"task": name})

    async def close(self) -> None:
        if self._pending:
            await asyncio.wait(self._pending, timeout=2)
        await asyncio.to_thread(self.celery.close)
