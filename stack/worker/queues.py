"""Queue lengths read from the Redis broker (what a backlog looks like to Prometheus and to snapshots)."""
from __future__ import annotations

import redis
from kombu.transport.redis import PRIORITY_STEPS, Channel

_SEP = Channel.sep


def priority_keys(queue: str) -> list[str]:
    """Kombu keeps each priority step of a queue in its own list: ``celery``, ``celery\\x06\\x163``, …"""
    return [queue if step == 0 else f"{queue}{_SEP}{step}" for step in PRIORITY_STEPS]


def queue_lengths(client: redis.Redis, queues: tuple[str, ...]) -> dict[str, int]:
    """Messages waiting in each queue (LLEN over its priority lists; prefetched messages are not counted)."""
    pipe = client.pipeline(transaction=False)
    for queue in queues:
        for key in priority_keys(queue):
            pipe.llen(key)
    counts = iter(pipe.execute())
    return {queue: sum(next(counts) for _ in PRIORITY_STEPS) for queue in queues}
