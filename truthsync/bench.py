"""``python -m truthsync.bench``: what a verification costs on each cache path, and claims/s over HTTP.

Prints figures, asserts nothing. In process: L1-hit lookups/s, then µs per
claim through the whole pipeline (split, classify, normalise, caches, fact
store) for the L1-hit, L2-hit and miss paths, one claim per call and in
batches. Over HTTP: claims/s through /verify/batch with N instances it
starts itself (L2 on, cache warmed by one pass over the measured texts).
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import orjson
import redis
from prometheus_client import CollectorRegistry

from truthsync import instances
from truthsync.dataset import parse_size, prepare, read_corpus
from truthsync.engine import Verifier
from truthsync.factstore import FactStore
from truthsync.local_cache import LocalCache
from truthsync.metrics import Metrics
from truthsync.shared_cache import SharedCache
from truthsync.text import normalise, stable_key


def l1_lookups_per_s(claims: list[str], accesses: np.ndarray, seconds: float) -> float:
    """Hits on a full L1, keys in Zipf order: the dict fast path with its loop, nothing else."""
    l1: LocalCache = LocalCache(len(claims) + 1, 3600)
    for c in claims:
        l1.put(c, c)
    keys = [claims[i % len(claims)] for i in accesses[:200_000].tolist()]
    get, now, done, start = l1.get, l1.clock(), 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for k in keys:
            get(k, now)
        done += len(keys)
    return done / (time.perf_counter() - start)


async def path_costs(dsn: str, redis_url: str, texts: list[str], batch: int) -> dict[str, tuple[float, float]]:
    """µs per claim on each path: (one claim per call, ``batch`` claims per call)."""
    store = FactStore(dsn)
    await store.open()
    l1: LocalCache = LocalCache(len(texts) * 2, 3600)
    l2 = SharedCache(redis_url, 3600)
    verifier = Verifier(store, l1, l2, Metrics(CollectorRegistry(), lambda: len(l1)))
    keys = [stable_key(normalise(t)) for t in texts]
    flush = redis.Redis.from_url(redis_url)
    halves = {"single": texts[: len(texts) // 2], "batch": texts[len(texts) // 2:]}
    costs: dict[str, dict[str, float]] = {"l1": {}, "l2": {}, "miss": {}}
    try:
        flush.delete(*keys)
        for path in ("miss", "l2", "l1"):
            if path != "l1":
                l1.clear()
            for mode, part in halves.items():
                size = 1 if mode == "single" else batch
                start = time.perf_counter()
                for i in range(0, len(part), size):
                    results = await verifier.verify(part[i:i + size])
                    assert all(c.cache == path for r in results for c in r.claims), f"expected {path}"
                costs[path][mode] = (time.perf_counter() - start) / len(part) * 1e6
    finally:
        flush.delete(*keys)
        await l2.close()
        await store.close()
    return {p: (c["single"], c["batch"]) for p, c in costs.items()}


async def http_claims_per_s(urls: list[str], texts: list[str], batch: int, seconds: float,
                            concurrency: int) -> tuple[float, float]:
    """(claims/s, share answered from a cache) through /verify/batch, round robin over ``urls``."""
    batches = [orjson.dumps({"texts": texts[i:i + batch]}) for i in range(0, len(texts) - batch + 1, batch)]
    targets = itertools.cycle(urls)
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=concurrency * len(urls))) as client:
        async def send(body: bytes) -> tuple[int, int]:
            r = await client.post(f"{next(targets)}/verify/batch", content=body, headers=headers)
            r.raise_for_status()
            claims = [c for t in orjson.loads(r.content)["results"] for c in t["claims"]]
            return len(claims), sum(c["cache"] != "miss" for c in claims)

        for i in range(0, len(batches), concurrency * len(urls)):  # warm: each text once on some instance
            await asyncio.gather(*(send(b) for b in batches[i:i + concurrency * len(urls)]))
        counts = [0, 0]
        todo = itertools.cycle(batches)
        deadline = time.perf_counter() + seconds

        async def worker():
            while time.perf_counter() < deadline:
                n, cached = await send(next(todo))
                counts[0] += n
                counts[1] += cached

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency * len(urls))))
        return counts[0] / (time.perf_counter() - start), counts[1] / max(counts[0], 1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m truthsync.bench", description=__doc__.split("\n")[0])
    p.add_argument("--dsn", default=os.environ.get("DATABASE_URL"), help="default: $DATABASE_URL")
    p.add_argument("--redis-url", default=os.environ.get("REDIS_URL"), help="default: $REDIS_URL")
    p.add_argument("--size", type=parse_size, default=parse_size("10k"))
    p.add_argument("--zipf", type=float, default=1.1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--instances", default="1,2", help="comma-separated instance counts for the HTTP figures")
    p.add_argument("--batch", type=int, default=200, help="texts per /verify/batch call")
    p.add_argument("--seconds", type=float, default=5.0, help="measuring time per figure")
    p.add_argument("--concurrency", type=int, default=2, help="requests in flight per instance")
    args = p.parse_args(argv)
    if not args.dsn or not args.redis_url:
        p.error("give --dsn and --redis-url (or set DATABASE_URL and REDIS_URL)")
    directory = prepare(args.dsn, args.size, args.zipf, args.seed)
    corpus = read_corpus(directory)
    accesses = np.load(directory / "access.npy")
    claims = sorted({normalise(t) for t, label in corpus if label != "opinion"})
    distinct = list({normalise(t): t for t, label in corpus if label != "opinion"}.values())[:2000]
    print(f"dataset {directory.name}: {len(corpus)} texts, {len(claims)} distinct claims, on {os.cpu_count()} cores")

    rate = l1_lookups_per_s(claims, accesses, args.seconds / 2)
    print(f"\nL1-hit lookups in process: {rate:,.0f}/s ({1e9 / rate:.0f} ns each)")
    costs = asyncio.run(path_costs(args.dsn, args.redis_url, distinct, args.batch))
    print(f"\nµs per claim, whole pipeline, {len(distinct) // 2} distinct claims per cell")
    print(f"{'path':<6}{'1 per call':>12}{f'{args.batch} per call':>16}")
    for path, (single, batched) in costs.items():
        print(f"{path:<6}{single:>12.1f}{batched:>16.1f}")
    print(f"miss / L2-hit cost: {costs['miss'][0] / costs['l2'][0]:.1f}x one per call, "
          f"{costs['miss'][1] / costs['l2'][1]:.1f}x batched")

    texts = [corpus[i][0] for i in accesses[:20_000].tolist()]
    print(f"\nHTTP /verify/batch, {args.batch} texts per call, {args.concurrency} in flight per instance, "
          f"L2 on, warm, {args.seconds:g}s")
    with tempfile.TemporaryDirectory(prefix="truthsync-bench-") as logs:
        for n in (int(x) for x in args.instances.split(",")):
            with instances.running(n, args.dsn, args.redis_url, Path(logs), TRUTHSYNC_L2="on",
                                   TRUTHSYNC_BATCH_MAX=str(max(args.batch, 1000))) as running:
                cps, cached = asyncio.run(http_claims_per_s([i.url for i in running], texts, args.batch,
                                                            args.seconds, args.concurrency))
            print(f"N={n}: {cps:,.0f} claims/s ({cached:.1%} from a cache)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
