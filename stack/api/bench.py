"""Dashboard benchmark: cache off vs on, side by side, in one run (``make bench``).

``python -m stack.api.bench --dsn DSN --redis-url URL [--concurrency 16] [--requests 600]``
Seeds the medium data set if it is missing, serves the API in a uvicorn
subprocess per arm, drives the dashboards of the biggest tenants at a fixed
concurrency with httpx, and prints p50/p95 latency and Postgres statements per
request (pg_stat_statements, and the API's own statement counter) with the ratio.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from dataclasses import dataclass

import httpx
import numpy as np
import psycopg

from stack.api.seed import logins, seed, seeded_scale
from stack.launch import free_port, start, stop, wait_healthy

TENANTS = 5  # the biggest tenants, where the dashboard is heaviest


@dataclass
class Arm:
    name: str
    p50_ms: float
    p95_ms: float
    throughput: float
    statements_per_request: float | None  # pg_stat_statements; None when it is not installed
    counted_per_request: float  # sentinel_db_queries_total


def _statements(dsn: str, reset: bool = False) -> int | None:
    """Calls recorded by pg_stat_statements for the API's statements (None if the extension is missing)."""
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            if reset:
                conn.execute("SELECT pg_stat_statements_reset()")
                return 0
            row = conn.execute("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE dbid = "
                               "(SELECT oid FROM pg_database WHERE datname = current_database()) AND query NOT ILIKE "
                               "'%pg_stat_statements%'").fetchone()
            return int(row[0])
    except psycopg.Error:
        return None


def _counted(client: httpx.Client) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("sentinel_db_queries_total "):
            return float(line.split()[1])
    return 0.0


async def _drive(base: str, tokens: list[tuple[int, str]], concurrency: int, requests: int) -> tuple[list, float]:
    latencies: list[float] = []
    counter = iter(range(requests))
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        async def worker():
            for i in counter:
                tenant, token = tokens[i % len(tokens)]
                start = time.perf_counter()
                r = await client.get(f"/api/v1/dashboard/{tenant}", headers={"Authorization": f"Bearer {token}"})
                latencies.append((time.perf_counter() - start) * 1000)
                r.raise_for_status()
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return latencies, time.perf_counter() - started


def run_arm(cache: str, dsn: str, redis_url: str, concurrency: int, requests: int) -> Arm:
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix=f"bench-api-{cache}-", suffix=".log", delete=False)
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "DATABASE_URL": dsn, "REDIS_URL": redis_url,
           "LOG_FILE": log.name, "SERVICE_NAME": f"api-bench-{cache}", "SENTINEL_CACHE": cache,
           "SENTINEL_CACHE_TTL_S": "300", "SENTINEL_DB_POOL_SIZE": str(min(concurrency, 10))}
    api = start(f"the API ({cache})", [sys.executable, "-m", "stack.api"], env, port)
    base = api.url
    try:
        try:
            wait_healthy(api, timeout_s=30)
        except RuntimeError as exc:
            raise SystemExit(f"{exc}; see {log.name}") from None
        with httpx.Client(base_url=base, timeout=60) as client:
            users = {u.tenant_id: u for u in reversed(logins("medium")) if u.tenant_id <= TENANTS}
            tokens = [(t, client.post("/api/v1/auth/login", json={"username": u.username, "password": u.password})
                       .json()["access_token"]) for t, u in sorted(users.items())]
            asyncio.run(_drive(base, tokens, concurrency, 2 * len(tokens)))  # warm the pool
            counted = _counted(client)
            _statements(dsn, reset=True)
            latencies, seconds = asyncio.run(_drive(base, tokens, concurrency, requests))
            statements = _statements(dsn)
            counted = _counted(client) - counted
    finally:
        stop(api.process, 15)
    lat = np.array(latencies)
    return Arm(f"cache {cache}", float(np.percentile(lat, 50)), float(np.percentile(lat, 95)), requests / seconds,
               None if statements is None else statements / requests, counted / requests)


def _row(label: str, off, on, fmt: str) -> str:
    if off is None or on is None:
        return f"{label:<32}{'n/a':>12}{'n/a':>12}{'':>10}"
    ratio = f"{on / off:.2f}×" if off else "—"
    return f"{label:<32}{off:>12{fmt}}{on:>12{fmt}}{ratio:>10}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.api.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", default=os.environ.get("DATABASE_URL"), help="default: $DATABASE_URL")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL"), help="default: $REDIS_URL")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--requests", type=int, default=600, help="dashboard requests per arm")
    args = parser.parse_args(argv)
    if not args.dsn or not args.redis_url:
        parser.error("give --dsn and --redis-url (or set DATABASE_URL and REDIS_URL)")
    if seeded_scale(args.dsn) != "medium":
        started = time.monotonic()
        print("seeding the medium data set…", file=sys.stderr, flush=True)
        seed(args.dsn, "medium", force=True)
        print(f"seeded in {time.monotonic() - started:.0f}s", file=sys.stderr)
    off, on = (run_arm(c, args.dsn, args.redis_url, args.concurrency, args.requests) for c in ("off", "on"))
    print(f"\nGET /api/v1/dashboard/{{tenant}} on the medium data set, tenants 1–{TENANTS}, "
          f"concurrency {args.concurrency}, {args.requests} requests per arm")
    print(f"{'':<32}{'cache off':>12}{'cache on':>12}{'on/off':>10}")
    print(_row("latency p50 (ms)", off.p50_ms, on.p50_ms, ".1f"))
    print(_row("latency p95 (ms)", off.p95_ms, on.p95_ms, ".1f"))
    print(_row("throughput (req/s)", off.throughput, on.throughput, ".1f"))
    print(_row("Postgres statements / request", off.statements_per_request, on.statements_per_request, ".2f"))
    print(_row("API-counted statements / request", off.counted_per_request, on.counted_per_request, ".2f"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
