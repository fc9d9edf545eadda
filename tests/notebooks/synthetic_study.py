"""Test fixture: a small study directory of real shape, built from synthetic samples.

Not used by production code. Every pattern's claimed effect is planted in the
treatment arm (the middle of the claimed range), so the report has verdicts to
show; the files are written with ``analysis.results.save_run`` exactly as a
real study writes them.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import patterns, results

PATTERNS = ("redis-cache", "aa")  # the patterns of the test session's study
NOT_MEASURED = {"celery-metrics": "the worker is absent from this test study"}
ABSENT = {"grafana": "exists only as a Docker image; the local stack runs without it",
          "ollama": "exists only as a Docker image; the local stack runs without it"}


def planted_effect(pattern: patterns.Pattern, metric: str) -> float:
    """The relative change planted in the treatment arm for ``metric``."""
    e = pattern.expectation(metric)
    if e is None or e.kind not in {"decrease", "increase"}:
        return 0.0
    return max(e.low, -0.9) / 2 + e.high / 2 if e.kind == "decrease" else (e.low + e.high) / 2


def _run_frames(pattern: patterns.Pattern, arm: str, start: datetime, duration_s: int, n: int,
                rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    sign = 1.0 if arm == "treatment" else 0.0
    endpoints = sorted({m.endpoint or "request" for m in pattern.metrics if m.source == "latency"}) or ["request"]
    factor = {ep: 1.0 for ep in endpoints}
    for m in pattern.metrics:
        if m.source == "latency" and m.endpoint:
            factor[m.endpoint] = min(factor[m.endpoint], 1 + sign * planted_effect(pattern, m.name))
    offsets = np.sort(rng.uniform(0, duration_s, n))
    names = rng.choice(endpoints, n)
    base = rng.lognormal(np.log(20), 0.5, n)
    requests = pd.DataFrame({
        "timestamp": pd.Timestamp(start) + pd.to_timedelta(offsets, unit="s"),
        "name": names,
        "response_time_ms": base * np.array([factor[x] for x in names]),
        "success": rng.random(n) > 0.01,
    })
    derived = {"requests": float(n), "errors": float((~requests["success"]).sum()),
               "throughput_rps": n / duration_s * rng.normal(1, 0.01)}
    for m in pattern.metrics:
        if m.source != "derived" or m.name in derived:
            continue
        e = pattern.expectation(m.name)
        scale = 1 + sign * planted_effect(pattern, m.name)
        if m.checks:  # the probe made its checks in every run
            derived.setdefault(m.checks, 50.0)
        if m.count:
            derived.setdefault(m.count, float(round(n * 3 * scale * rng.normal(1, 0.01))))
        else:
            derived[m.name] = 0.0 if e is not None and e.kind == "zero" else 10 * scale * rng.normal(1, 0.01)
    units = {m.name: m.unit for m in pattern.metrics}
    derived_frame = pd.DataFrame({"metric": list(derived), "value": list(derived.values()),
                                  "unit": [units.get(k, "count") for k in derived]})
    seconds = pd.date_range(start, periods=duration_s, freq="s", tz="UTC")
    history = pd.DataFrame({"timestamp": seconds, "requests_per_s": n / duration_s, "user_count": 10})
    tidy = pd.DataFrame({"timestamp": seconds, "metric": "redis_commands_processed_total",
                         "value": np.cumsum(rng.poisson(50, duration_s)).astype(float)})
    return {"requests": requests, "derived": derived_frame, "history": history, "redis": tidy}


def make_study(results_dir: Path, study: str = "synthetic", pattern_ids: tuple[str, ...] = ("redis-cache", "aa"),
               not_measured: dict[str, str] | None = None, repeats: int = 3, duration_s: int = 10,
               requests_per_run: int = 800, seed: int = 7) -> Path:
    """Write ``results_dir/<study>`` with one warm-up and ``repeats`` interleaved runs per arm."""
    not_measured = not_measured if not_measured is not None else {"celery-metrics": "worker is absent"}
    rng = np.random.default_rng(seed)
    path = Path(results_dir) / study
    t0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
    results.write_study(path, results.StudyMeta.from_dict({
        "study": study, "created": t0.isoformat(), "patterns": [*pattern_ids, *not_measured],
        "stack": "local", "repeats": repeats, "duration_s": duration_s, "absent": ABSENT,
        "not_measured": not_measured}))
    slot = 0
    for pattern in map(patterns.get, pattern_ids):
        for repeat in range(repeats + 1):
            for arm in ("baseline", "treatment") if repeat % 2 else ("treatment", "baseline"):
                start = t0 + timedelta(seconds=slot * (duration_s + 2))
                slot += 1
                toggles = pattern.baseline if arm == "baseline" else pattern.treatment
                meta = results.RunMeta(
                    run_id=f"{pattern.id}-{repeat}-{arm}", study=study, pattern=pattern.id, arm=arm,
                    repeat=repeat, warmup=repeat == 0, toggles=dict(toggles),
                    start=start.isoformat(), end=(start + timedelta(seconds=duration_s)).isoformat(),
                    workload={"users": 10, "duration_s": duration_s})
                results.save_run(path, meta, _run_frames(pattern, arm, start, duration_s,
                                                         requests_per_run, rng))
    return path
