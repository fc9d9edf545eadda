"""Test fixture: an all-on capacity study whose arms follow known USL curves.

Not used by production code. Each run's levels are drawn from X(N) = γN / (1 + α(N−1) + βN(N−1))
with a few per cent of run-to-run noise, p95 rising past the SLO at the top levels, and per-service
CPU samples in each level's window (the API saturates first); the per-run scalars are derived by
``capacity.run_scalars`` and everything is written with ``results.save_run``, as a real study does.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import capacity, patterns, results

LEVELS = (4, 8, 16, 32, 64)
USL = {"baseline": (10.0, 0.05, 0.0005), "treatment": (25.0, 0.03, 0.0004)}  # γ, α, β per arm


def _run(arm: str, start: datetime, rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    gamma, alpha, beta = USL[arm]
    n = np.array(LEVELS, float)
    x = capacity.usl(n, gamma, alpha, beta) * rng.normal(1, 0.03, len(n))
    p95 = 1000 * n / x * 2.0  # Little's law with a tail: the top levels miss the 250 ms SLO
    rows, samples = [], []
    for i, level in enumerate(LEVELS):
        s, e = start + timedelta(seconds=5 * i + 1), start + timedelta(seconds=5 * (i + 1))
        rows.append({"level": level, "concurrency": float(level), "start": pd.Timestamp(s), "end": pd.Timestamp(e),
                     "requests": int(x[i] * 4), "throughput_rps": float(x[i]), "p50_ms": p95[i] / 2,
                     "p95_ms": p95[i], "p99_ms": p95[i] * 1.3, "p95_response_ms": p95[i], "error_rate": 0.0,
                     "generator_cpu": 30.0, "generator_saturated": False})
        for t in range(4):
            ts = pd.Timestamp(s + timedelta(seconds=t))
            for service, per_user in (("api", 3.0), ("postgres", 1.2), ("nginx", 0.4)):
                samples.append({"timestamp": ts, "service": service, "cpu_percent": min(100.0, per_user * level),
                                "rss_bytes": 80e6 + level * 1e5})
    levels = pd.DataFrame(rows, columns=capacity.LEVEL_COLUMNS)
    derived = pd.DataFrame([{"metric": k, "value": float(v), "unit": u}
                            for k, (v, u) in capacity.run_scalars(levels).items()])
    return {"levels": levels, "resources": pd.DataFrame(samples), "derived": derived}


def make_capacity_study(results_dir: Path, study: str = "capacity-synthetic", repeats: int = 3,
                        seed: int = 11) -> Path:
    pattern = patterns.get("all-on")
    rng = np.random.default_rng(seed)
    path = Path(results_dir) / study
    t0 = datetime(2026, 1, 7, 9, 0, tzinfo=timezone.utc)
    results.write_study(path, results.StudyMeta.from_dict({"study": study, "created": t0.isoformat(), "patterns": [pattern.id], "stack": "local",
                               "repeats": repeats, "duration_s": 25, "absent": {}, "not_measured": {}}))
    slot = 0
    for repeat in range(repeats):
        for arm in ("baseline", "treatment") if repeat % 2 == 0 else ("treatment", "baseline"):
            start = t0 + timedelta(seconds=slot * 30)
            slot += 1
            meta = results.RunMeta(f"all-on-r{repeat}-{arm}", study, pattern.id, arm, repeat,
                                   toggles=dict(getattr(pattern, arm)), start=start.isoformat(),
                                   end=(start + timedelta(seconds=25)).isoformat(), workload={"users": 64})
            results.save_run(path, meta, _run(arm, start, rng))
    return path
