"""Simulated studies: how often the statistics cry wolf, how often their intervals cover, what they detect.

Each simulated run has its own drift (the whole run slower or faster by a log-normal factor,
10 % by default) and its own number of requests; its latencies are log-normal. A run's
p50/p95/p99 is drawn exactly as the sample quantile (linear interpolation, as pandas computes
it) of that many requests, from the joint law of two adjacent order statistics, so a study of
thousands of runs takes milliseconds. Every run-level value then goes through
``analysis.stats.run_test`` at the level the ``aa`` pattern's claim gets (primary or
Bonferroni-corrected secondary), as a real study's would: paired by repeat (the ABBA blocks
of a complete study) or, with ``pairs=False``, Welch's t (a study that lost a run).
``Setting.trend`` adds a slow drift of the machine across the study (the log-scale shift
grows linearly from 0 to ``trend`` over the runs, in ABBA order).

``python -m analysis.sensitivity`` prints the false-positive rates, the coverage and the power
curves quoted in the README; tests/unit/test_stats_simulation.py pins them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from analysis import patterns as pats
from analysis import stats
from analysis.repeats import DEFAULT_REPEATS, QUICK_REPEATS

LATENCY_MEDIAN_MS, LATENCY_SIGMA = 20.0, 0.5
STATEMENTS_PER_REQUEST, ERROR_RATE = 3.0, 0.002
QUANTILES = {"dashboard_p50_ms": 0.5, "dashboard_p95_ms": 0.95, "dashboard_p99_ms": 0.99}


@dataclass(frozen=True)
class Setting:
    """What a study looks like: runs per arm, requests per run (drawn uniformly), run-to-run drift."""

    name: str
    runs: int
    requests: tuple[int, int]
    drift: float = 0.10
    trend: float = 0.0


QUICK = Setting("quick", QUICK_REPEATS, (30, 300))  # 8 s runs: tens to hundreds of dashboard requests
DEFAULT = Setting("default", DEFAULT_REPEATS, (300, 1500))  # 60 s runs
WIDE = Setting("30–1,500 requests", QUICK_REPEATS, (30, 1500))


def sample_quantile(rng: np.random.Generator, n: np.ndarray, q: float) -> np.ndarray:
    """The ``q`` sample quantile (linear interpolation) of ``n`` standard normal draws, per element of ``n``."""
    h = (n - 1) * q
    k = np.floor(h).astype(int)  # 0-based: the value lies between order statistics k+1 and k+2 (1-based)
    frac = h - k
    u1 = rng.beta(k + 1, n - k)
    rest = np.maximum(n - k - 1, 1)
    u2 = u1 + (1 - u1) * rng.beta(1, rest)  # the smallest of the n−k−1 uniforms above u1
    lo, hi = sps.norm.ppf(u1), sps.norm.ppf(np.where(n - k - 1 > 0, u2, u1))
    return lo + frac * (hi - lo)


def simulate(rng: np.random.Generator, setting: Setting, studies: int, change: float = 0.0) -> dict[str, tuple]:
    """Run-level values of the ``aa`` metrics for ``studies`` studies: metric → (baseline, treatment),
    each of shape (studies, runs). ``change`` multiplies every treatment latency and statement count."""
    shape = (2, studies, setting.runs)
    n = rng.integers(setting.requests[0], setting.requests[1] + 1, shape)
    drift = rng.normal(0.0, setting.drift, shape)  # the run's own log-scale shift
    slot = np.arange(2 * setting.runs).reshape(setting.runs, 2)  # ABBA: AB, BA, AB, … → time slots
    slot[1::2] = slot[1::2, ::-1]
    drift = drift + setting.trend * (slot.T[:, None, :] / max(2 * setting.runs - 1, 1))
    effect = np.log1p(change) * np.array([0.0, 1.0])[:, None, None]
    out = {}
    for metric, q in QUANTILES.items():
        z = sample_quantile(rng, n, q)
        out[metric] = np.exp(np.log(LATENCY_MEDIAN_MS) + drift + effect + LATENCY_SIGMA * z)
    out["pg_statements_per_request"] = rng.poisson(STATEMENTS_PER_REQUEST * n * np.exp(drift + effect)) / n
    out["throughput_rps"] = n / 60.0 * np.exp(rng.normal(0.0, setting.drift, shape))
    out["error_rate"] = rng.binomial(n, ERROR_RATE) / n
    return {k: (v[0], v[1]) for k, v in out.items()}


def tests(values: dict[str, tuple], pattern: pats.Pattern | None = None, pairs: bool = True) -> dict[str, stats.Test]:
    """Each metric's run-level test, at its claim's level and noise threshold in ``pattern`` (``aa``)."""
    pattern = pattern or pats.get("aa")
    out = {}
    for name, (b, t) in values.items():
        metric = pattern.metric(name)
        confidence, _ = stats.level(pattern, name)
        out[name] = stats.run_test(b, t, scale=metric.scale, level=confidence, noise=metric.noise, pairs=pairs)
    return out


def false_positives(setting: Setting, studies: int = 1000, seed: int = 0, pairs: bool = True) -> dict[str, float]:
    """A/A: the share of studies flagged per metric, with a raw p < 0.05, and flagged on any claim."""
    found = tests(simulate(np.random.default_rng(seed), setting, studies), pairs=pairs)
    rates = {name: float(np.mean(t.significant)) for name, t in found.items()}
    rates |= {f"raw p<0.05 {name}": float(np.mean(t.p < stats.ALPHA)) for name, t in found.items()}
    rates["any claim"] = float(np.mean(np.any([t.significant for t in found.values()], axis=0)))
    return rates


def coverage(setting: Setting, change: float, studies: int = 1000, seed: int = 1,
             pairs: bool = True) -> dict[str, float]:
    """The share of 95 % intervals (no correction) holding the true relative change, per latency metric."""
    values = simulate(np.random.default_rng([seed, round(change * 1000) + 1000]), setting, studies, change)
    out = {}
    for name in (*QUANTILES, "pg_statements_per_request"):
        t = stats.run_test(*values[name], scale="relative", level=1 - stats.ALPHA, pairs=pairs)
        out[name] = float(np.mean((t.low <= change) & (change <= t.high)))
    return out


def power(setting: Setting, changes=(0.05, 0.10, 0.20, 0.30, 0.50), metric: str = "dashboard_p95_ms",
          studies: int = 1000, seed: int = 2, pairs: bool = True) -> dict[float, float]:
    """Detection rate of a true slowdown of ``metric`` (significant beyond its noise threshold, at the
    primary claim's level) per true change."""
    pattern = pats.get("aa")
    out = {}
    for i, change in enumerate(changes):
        b, t = simulate(np.random.default_rng(seed + i), setting, studies, change)[metric]
        test = stats.run_test(b, t, scale="relative", level=1 - stats.ALPHA, noise=pattern.metric(metric).noise,
                              pairs=pairs)
        out[change] = float(np.mean(test.significant & (test.change > 0)))
    return out


def main() -> None:
    for setting in (QUICK, DEFAULT, WIDE):
        print(f"\n{setting.name}: {setting.runs} runs per arm, {setting.requests[0]}–{setting.requests[1]} "
              f"requests per run, {setting.drift * 100:.0f} % run-to-run drift, 1,000 simulated studies")
        for pairs, test in ((True, "paired"), (False, "Welch")):
            rates = false_positives(setting, pairs=pairs)
            raw = max(v for k, v in rates.items() if k.startswith("raw"))
            flagged = max(v for k, v in rates.items() if not k.startswith("raw") and k != "any claim")
            worst = min(min(coverage(setting, change, pairs=pairs).values()) for change in (0.0, 0.2))
            curve = power(setting, pairs=pairs)
            print(f"  {test:>6}: A/A flagged ≤ {flagged * 100:.1f} % per metric, {rates['any claim'] * 100:.1f} % "
                  f"per study (raw p < 0.05 ≤ {raw * 100:.1f} %); worst 95 % coverage {worst * 100:.1f} %; "
                  "power on p95: " + ", ".join(f"{c * 100:+.0f} % → {p * 100:.0f} %" for c, p in curve.items()))
    for runs in range(4, 9):
        setting = Setting(f"{runs} runs", runs, (30, 1500))
        worst = min(min(coverage(setting, change, pairs=pairs).values())
                    for change in (0.0, 0.2, -0.5) for pairs in (True, False))
        print(f"worst 95 % interval coverage, {runs} runs per arm, 30–1,500 requests, either test: "
              f"{worst * 100:.1f} %")
    trend = Setting("trend", DEFAULT_REPEATS, (300, 1500), trend=0.5)
    for pairs, test in ((True, "paired"), (False, "Welch")):
        print(f"with a +50 % slow drift across the study ({test}): A/A any claim flagged "
              f"{false_positives(trend, pairs=pairs)['any claim'] * 100:.1f} %, power on a +30 % p95 "
              f"{power(trend, (0.3,), pairs=pairs)[0.3] * 100:.0f} %")


if __name__ == "__main__":
    main()
