"""The allow-list: the only things the remediator can do, each validating its own parameters."""
from __future__ import annotations

import asyncio
import fnmatch
import xmlrpc.client
from dataclasses import dataclass
from typing import Awaitable, Callable

import redis.asyncio as aioredis
from supervisor.xmlrpc import SupervisorTransport

#: services an action may restart; anything else is refused
RESTARTABLE = ("api", "worker", "truthsync-*")
CACHE_PREFIX = "sentinel:cache:"


class ActionRefused(ValueError):
    """The action is not allow-listed, or its parameters are not acceptable."""


@dataclass(frozen=True)
class Action:
    name: str
    doc: str
    run: Callable[[dict[str, str]], Awaitable[str]]


def restart_service(supervisor_sock: str | None) -> Callable[[dict[str, str]], Awaitable[str]]:
    async def run(params: dict[str, str]) -> str:
        service = params.get("service", "")
        if not any(fnmatch.fnmatchcase(service, pattern) for pattern in RESTARTABLE):
            raise ActionRefused(f"restart_service: {service!r} is not restartable; allowed: {', '.join(RESTARTABLE)}")
        if not supervisor_sock:
            raise ActionRefused("restart_service needs SUPERVISOR_SOCK (the local stack sets it)")
        # XML-RPC blocks for as long as supervisord takes to stop and start: keep it off the event loop
        return await asyncio.to_thread(_restart, supervisor_sock, service)
    return run


def _restart(supervisor_sock: str, service: str) -> str:
    """Stop ``service`` if it runs, then start it: a crashed service (EXITED, FATAL) is started."""
    rpc = xmlrpc.client.ServerProxy("http://127.0.0.1",
                                    transport=SupervisorTransport(None, None, f"unix://{supervisor_sock}")).supervisor
    try:
        state = rpc.getProcessInfo(service)["statename"]
    except xmlrpc.client.Fault as exc:
        raise ActionRefused(f"restart_service: supervisord does not know {service!r} ({exc.faultString})")
    if state in {"RUNNING", "STARTING", "BACKOFF"}:
        rpc.stopProcess(service, True)
        rpc.startProcess(service, True)
        return f"restarted {service}"
    rpc.startProcess(service, True)
    return f"started {service} (it was {state})"


def flush_cache(redis_url: str) -> Callable[[dict[str, str]], Awaitable[str]]:
    async def run(params: dict[str, str]) -> str:
        client = aioredis.Redis.from_url(redis_url)
        removed = 0
        try:
            async for key in client.scan_iter(match=f"{CACHE_PREFIX}*", count=500):
                removed += await client.unlink(key)
        finally:
            await client.aclose()
        return f"removed {removed} cache keys"
    return run


async def record_only(params: dict[str, str]) -> str:
    return "recorded; no automatic action is safe for this alert"


def default_actions(redis_url: str, supervisor_sock: str | None = None) -> dict[str, Action]:
    return {a.name: a for a in (
        Action("restart_service", "restart (or start, if it crashed) one allow-listed service",
               restart_service(supervisor_sock)),
        Action("flush_cache", f"drop the API's query cache ({CACHE_PREFIX}*)", flush_cache(redis_url)),
        Action("record_only", "audit the alert, change nothing", record_only),
    )}
