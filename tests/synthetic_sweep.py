"""Test fixture: a redis-cache sweep study over SENTINEL_CACHE_TTL_S with a known dose-response.

Not used by production code. The runs are written with ``analysis.results.save_run`` exactly as a
real sweep writes them (arms rotated repeat by repeat); the planted effect on statements per request
is ``EFFECTS[value]`` against the baseline, the hit ratio ``HIT_RATIO[value]``.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import patterns, results
from analysis.sweep import Sweep, rotated

#: statements per request against the baseline: the claim (−40…−60 %) holds from TTL 30 on
EFFECTS = {"5": -0.15, "30": -0.50, "120": -0.55}
HIT_RATIO = {"5": 0.2, "30": 0.55, "120": 0.6}
BASE_STATEMENTS = 4.0


def _frames(value: str | None, start: datetime, n: int, noise: float, flat: bool,
            rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    effect = 0.0 if value is None or flat else EFFECTS[value]
    hit = 0.0 if value is None else (0.4 if flat else HIT_RATIO[value])
    offsets = np.sort(rng.uniform(0, 8, n))
    requests = pd.DataFrame({"timestamp": pd.Timestamp(start) + pd.to_timedelta(offsets, unit="s"),
                             "name": "GET /api/v1/dashboard", "response_time_ms": rng.lognormal(np.log(20), 0.3, n),
                             "success": True})
    derived = {"requests": float(n), "errors": 0.0, "throughput_rps": n / 8,
               "pg_statements": n * BASE_STATEMENTS * (1 + effect) * rng.normal(1, noise),
               "pg_exec_ms": n * 0.5 * (1 + effect) * rng.normal(1, noise), "pg_blocks": n * 20.0,
               "api_cache_hit_ratio": hit + rng.normal(0, noise), "api_cache_lookups": float(n),
               "stale_reads": 0.0, "stale_checks": 20.0, "redis_commands": n * 2.0}
    if value is None:  # the cache is off in the baseline: the hit-ratio probe looks up nothing, as for real
        derived.pop("api_cache_hit_ratio")
        derived["api_cache_lookups"] = 0.0
    return {"requests": requests,
            "derived": pd.DataFrame({"metric": list(derived), "value": list(derived.values()), "unit": "count"})}


def make_sweep_study(results_dir: Path, study: str = "sweep-ttl", repeats: int = 4, noise: float = 0.03,
                     flat: bool = False, seed: int = 3, requests_per_run: int = 300) -> Path:
    """A warm-up, then ``repeats`` rotated rounds of baseline and TTL 5, 30, 120 (``flat``: no effect at all)."""
    pattern = patterns.get("redis-cache")
    sweep = Sweep("SENTINEL_CACHE_TTL_S", tuple(EFFECTS))
    rng = np.random.default_rng(seed)
    path = Path(results_dir) / study
    t0 = datetime(2026, 1, 6, 9, 0, tzinfo=timezone.utc)
    results.write_study(path, results.StudyMeta.from_dict({"study": study, "created": t0.isoformat(), "patterns": [pattern.id], "stack": "local",
                               "repeats": repeats, "duration_s": 8, "absent": {}, "not_measured": {},
                               "sweep": sweep.record()}))
    steps = [(0, sweep.arms[0], True)] + [(r, arm, False) for r in range(repeats) for arm in rotated(sweep.arms, r)]
    for slot, (repeat, arm, warmup) in enumerate(steps):
        start = t0 + timedelta(seconds=slot * 10)
        run_id = f"{pattern.id}-warmup-{arm}" if warmup else f"{pattern.id}-r{repeat}-{arm}"
        meta = results.RunMeta(run_id, study, pattern.id, arm, repeat, warmup, toggles=sweep.toggles(pattern, arm),
                               start=start.isoformat(), end=(start + timedelta(seconds=8)).isoformat(),
                               workload={"users": 10, "duration_s": 8})
        results.save_run(path, meta, _frames(sweep.value_of(arm), start, requests_per_run, noise, flat, rng))
    return path
