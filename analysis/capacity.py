"""Capacity: what the stack carries at each load level, where it stops scaling, and why.

A capacity run plays a staircase of load levels (closed loop: concurrent users without think time;
open loop: a scheduled arrival rate). Each level is summarised from the per-request log with the
first ``settle_s`` seconds left out, so the ramp to a level never counts as the level. From the
levels come the **maximum sustainable throughput at an SLO** (the highest throughput of a level
whose p95 and error rate meet it) and a fit of the **Universal Scalability Law**,
X(N) = γN / (1 + α(N−1) + βN(N−1)), by bounded non-linear least squares (α, β ≥ 0): contention α,
coherency β, the peak concurrency N* = √((1−α)/β) and the throughput there. Intervals come from
repeated runs (a level's throughput is one value per run) and a bootstrap over the measured points.
"""
from __future__ import annotations

import json
import math
import warnings
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import optimize, stats

from analysis import results
from analysis.load import Workload

LEVEL_COLUMNS = ["level", "concurrency", "start", "end", "requests", "throughput_rps", "p50_ms", "p95_ms",
                 "p99_ms", "p95_response_ms", "error_rate", "generator_cpu", "generator_saturated"]


@dataclass(frozen=True)
class Slo:
    """What "sustainable" means: p95 within ``p95_ms`` and errors below ``max_error_rate``."""

    p95_ms: float = 250.0
    max_error_rate: float = 0.01

    def met(self, p95_ms: float, error_rate: float) -> bool:
        return bool(p95_ms <= self.p95_ms and error_rate < self.max_error_rate)

    def describe(self) -> str:
        return f"p95 ≤ {self.p95_ms:g} ms and errors < {self.max_error_rate:.0%}"


@dataclass(frozen=True)
class CapacityPlan:
    """The staircase a capacity run plays: ``levels`` (users, or arrivals/s with ``open_loop``), each
    held ``level_s`` seconds, the first ``settle_s`` of each left out; ``processes`` Locust processes."""

    levels: tuple[float, ...]
    level_s: float
    open_loop: bool = False
    settle_s: float = 1.0
    slo: Slo = field(default_factory=Slo)
    processes: int = 1
    pool: int = 200  # open loop: users ready to take an arrival (a busy pool delays it, as a real queue would)

    def __post_init__(self):
        if len(self.levels) < 3 or any(x <= 0 for x in self.levels) or self.level_s <= self.settle_s:
            raise ValueError("a capacity run needs at least 3 positive levels, each held longer than its "
                             f"{self.settle_s:g} s settling time (e.g. --levels 4,8,16,32 --level-seconds 5)")

    @classmethod
    def of(cls, spec, budget_s: float | None = None) -> "CapacityPlan":
        """The plan a pattern's workload declares (``WorkloadSpec.levels``), its levels shortened to fit a
        study's run length ``budget_s`` (a quick study) but never below the settling time plus 2 s."""
        level_s = spec.level_s
        if budget_s is not None and budget_s < len(spec.levels) * level_s:
            level_s = max(cls.settle_s + 2.0, budget_s / len(spec.levels))
        return cls(tuple(spec.levels), level_s, spec.open_loop)

    @property
    def duration_s(self) -> float:
        return len(self.levels) * self.level_s

    def workload(self, base: Workload) -> Workload:
        """``base`` turned into this staircase: no think time; a schedule of user counts (closed loop)
        or a pool of open-loop users fed by the arrival clock."""
        options = {**base.options, "think-scale": 0}
        if self.open_loop:
            options.update({"arrival-rates": ",".join(f"{r:g}" for r in self.levels),
                            "arrival-level-seconds": self.level_s, "arrival-processes": self.processes})
            return replace(base, users=self.pool, spawn_rate=self.pool, duration_s=self.duration_s + 1,
                           options=options, user_classes=("OpenLoopApiUser",), processes=self.processes)
        options["schedule"] = json.dumps([{"duration_s": self.level_s, "users": int(n), "spawn_rate": max(int(n), 1)}
                                          for n in self.levels])
        return replace(base, users=int(max(self.levels)), spawn_rate=max(self.levels), duration_s=self.duration_s,
                       shape="schedule", options=options, processes=self.processes)


@dataclass(frozen=True)
class UslFit:
    """The fitted law and what follows from it; ``peak_n`` is infinite when β = 0."""

    gamma: float
    alpha: float
    beta: float
    r2: float
    points: int

    @property
    def peak_n(self) -> float:
        return math.sqrt((1 - self.alpha) / self.beta) if self.beta > 0 and self.alpha < 1 else math.inf

    @property
    def peak_throughput(self) -> float:
        """X at the peak; with β = 0 the ceiling γ/α that X approaches as N grows."""
        if math.isinf(self.peak_n):
            return self.gamma / self.alpha if self.alpha > 0 else math.inf
        return float(usl(np.array([self.peak_n]), self.gamma, self.alpha, self.beta)[0])

    def predict(self, n) -> np.ndarray:
        return usl(np.asarray(n, float), self.gamma, self.alpha, self.beta)

    def as_dict(self) -> dict:
        return {**asdict(self), "peak_n": self.peak_n, "peak_throughput": self.peak_throughput}


def usl(n: np.ndarray, gamma: float, alpha: float, beta: float) -> np.ndarray:
    return gamma * n / (1 + alpha * (n - 1) + beta * n * (n - 1))


def fit_usl(n, x) -> UslFit:
    """Least-squares USL fit; α and β bounded to [0, 1], γ > 0 started from the smallest load's X/N."""
    n, x = np.asarray(n, float), np.asarray(x, float)
    ok = np.isfinite(n) & np.isfinite(x) & (n > 0)
    n, x = n[ok], x[ok]
    if len(np.unique(n)) < 3:
        raise ValueError(f"a USL fit needs at least 3 distinct load levels; got {len(np.unique(n))}")
    first = np.argmin(n)
    gamma0 = max(x[first] / n[first], 1e-9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optimize.OptimizeWarning)
        (gamma, alpha, beta), _ = optimize.curve_fit(
            usl, n, x, p0=(gamma0, 0.01, 1e-4), bounds=([0, 0, 0], [np.inf, 1, 1]), maxfev=20000)
    residual = float(np.sum((x - usl(n, gamma, alpha, beta)) ** 2))
    total = float(np.sum((x - x.mean()) ** 2))
    return UslFit(float(gamma), float(alpha), float(beta), 1 - residual / total if total > 0 else 1.0, len(n))


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float


def bootstrap_usl(n, x, resamples: int = 500, seed: int = 0) -> dict[str, Interval]:
    """Percentile intervals (95 %) of α, β, γ, the peak and its throughput: the points resampled with
    replacement, each resample refitted (a resample with < 3 distinct levels is skipped)."""
    n, x = np.asarray(n, float), np.asarray(x, float)
    point = fit_usl(n, x)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(resamples):
        idx = rng.integers(0, len(n), len(n))
        if len(np.unique(n[idx])) < 3:
            continue
        try:
            f = fit_usl(n[idx], x[idx])
        except (ValueError, RuntimeError):
            continue
        draws.append((f.gamma, f.alpha, f.beta, f.peak_n, f.peak_throughput))
    names = ("gamma", "alpha", "beta", "peak_n", "peak_throughput")
    estimates = (point.gamma, point.alpha, point.beta, point.peak_n, point.peak_throughput)
    if not draws:
        return {k: Interval(v, math.nan, math.nan) for k, v in zip(names, estimates)}
    arr = np.array(draws, float)
    return {k: Interval(v, float(np.nanpercentile(arr[:, i], 2.5)), float(np.nanpercentile(arr[:, i], 97.5)))
            for i, (k, v) in enumerate(zip(names, estimates))}


def levels(requests: pd.DataFrame, stages: pd.DataFrame, settle_s: float = 2.0,
           generator_cpu: pd.DataFrame | None = None, saturated_cpu: float = 80.0) -> pd.DataFrame:
    """One row per load level of a run: its window (ramp left out), throughput, percentiles, errors,
    and whether the load generator saturated during it (its busiest process at ``saturated_cpu`` % or
    more in half the window's samples: that level's throughput is the generator's, not the server's).

    Closed loop, a level is its users, which is also its concurrency. Open loop (the requests carry
    ``intended_ms``), a level is its arrival rate; percentiles are from the intended start (queueing
    included), ``p95_response_ms`` is the ordinary response time beside it, and the concurrency the
    server saw comes from Little's law (throughput × mean latency)."""
    rows = []
    if stages is None or stages.empty or requests is None or requests.empty:
        return pd.DataFrame(columns=LEVEL_COLUMNS)
    open_loop = "intended_ms" in requests and requests["intended_ms"].notna().any()
    for stage in stages.itertuples():
        start = stage.start + pd.Timedelta(seconds=settle_s)
        end = stage.end
        if end <= start:
            continue
        window = requests[(requests["timestamp"] >= start) & (requests["timestamp"] < end)]
        if open_loop:
            window = window[window["intended_ms"].notna()]  # logins and the like are not arrivals
        seconds = (end - start).total_seconds()
        ok = window[window["success"].astype(bool)]
        latency = ok["intended_ms"] if open_loop else ok["response_time_ms"]
        cpu, saturated = math.nan, False
        if generator_cpu is not None and len(generator_cpu):
            samples = generator_cpu[(generator_cpu["timestamp"] >= start) & (generator_cpu["timestamp"] < end)]
            if len(samples):
                cpu = float(samples["cpu_percent"].mean())
                saturated = bool((samples["cpu_percent"] >= saturated_cpu).mean() >= 0.5)
        throughput = len(window) / seconds
        rows.append({"level": float(stage.users) if open_loop else int(stage.users),
                     "concurrency": throughput * float(latency.mean()) / 1000 if open_loop and len(latency)
                     else float(stage.users),
                     "start": start, "end": end, "requests": len(window), "throughput_rps": throughput,
                     **{f"p{q}_ms": float(latency.quantile(q / 100)) if len(latency) else math.nan
                        for q in (50, 95, 99)},
                     "p95_response_ms": float(ok["response_time_ms"].quantile(0.95)) if len(ok) else math.nan,
                     "error_rate": 1 - len(ok) / len(window) if len(window) else math.nan,
                     "generator_cpu": cpu, "generator_saturated": saturated})
    return pd.DataFrame(rows, columns=LEVEL_COLUMNS)


def max_sustainable(levels_: pd.DataFrame, slo: Slo = Slo()) -> float:
    """The highest throughput of a level that meets the SLO (trusted levels only); 0 when none does."""
    ok = [r.throughput_rps for r in levels_.itertuples()
          if not r.generator_saturated and slo.met(r.p95_ms, r.error_rate)]
    return float(max(ok)) if ok else 0.0


def run_scalars(levels_: pd.DataFrame, slo: Slo = Slo()) -> dict[str, tuple[float, str]]:
    """A capacity run's per-run values for the results store (``derived``): the maximum sustainable
    throughput, the USL peak throughput and contention/coherency, the number of saturated levels."""
    out: dict[str, tuple[float, str]] = {
        "max_sustainable_rps": (max_sustainable(levels_, slo), "req/s"),
        "levels": (len(levels_), "levels"),
        "generator_saturated_levels": (int(levels_["generator_saturated"].sum()) if len(levels_) else 0, "levels")}
    trusted = levels_[~levels_["generator_saturated"].astype(bool)] if len(levels_) else levels_
    try:
        fit = fit_usl(trusted["concurrency"], trusted["throughput_rps"])
    except (ValueError, RuntimeError):
        return out
    out.update(usl_peak_rps=(min(fit.peak_throughput, 1e9), "req/s"), usl_alpha=(fit.alpha, "ratio"),
               usl_beta=(fit.beta, "ratio"), usl_r2=(fit.r2, "ratio"))
    return out


def repeat_interval(values, confidence: float = 0.95, floor: float = 0.0) -> Interval:
    """Mean over repeated runs with a t interval (runs are the independent units), cut at ``floor``
    (a throughput is never negative, however few the runs)."""
    v = np.asarray([x for x in values if np.isfinite(x)], float)
    if len(v) == 0:
        return Interval(math.nan, math.nan, math.nan)
    if len(v) == 1 or np.ptp(v) == 0:
        return Interval(float(v.mean()), float(v.min()), float(v.max()))
    half = stats.t.ppf((1 + confidence) / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
    return Interval(float(v.mean()), max(floor, float(v.mean() - half)), float(v.mean() + half))


@dataclass
class CapacitySummary:
    """One arm of a stored capacity study: levels averaged over repeats, the SLO maximum with its
    interval over runs, and the USL fit with bootstrap intervals over every measured level."""

    pattern: str
    arm: str
    slo: Slo
    table: pd.DataFrame  # per level: throughput (mean, low, high over runs), p95, errors, saturated runs, busiest service
    max_sustainable: Interval
    usl: dict[str, Interval]
    usl_r2: float
    runs: int
    saturated_levels: list[float]

    def as_dict(self) -> dict:
        table = self.table.astype(object).where(self.table.notna(), None)
        return {"pattern": self.pattern, "arm": self.arm, "slo": self.slo.describe(), "runs": self.runs,
                "levels": table.to_dict("records"), "max_sustainable_rps": asdict(self.max_sustainable),
                "usl": {k: asdict(v) for k, v in self.usl.items()}, "usl_r2": self.usl_r2,
                "generator_saturated_levels": self.saturated_levels}


def summarize(study_dir, pattern: str, arm: str, slo: Slo = Slo()) -> CapacitySummary:
    """The capacity of one arm of a stored study (its non-warm-up, trusted runs)."""
    levels_ = results.load_source(study_dir, "levels", pattern)
    levels_ = levels_[(levels_["arm"] == arm) & ~levels_["warmup"].astype(bool)] if len(levels_) else levels_
    if levels_.empty:
        raise results.ResultsError(f"no capacity levels stored for {pattern} ({arm}) in {study_dir}")
    resources = results.load_source(study_dir, "resources", pattern)
    per_run = [max_sustainable(g, slo) for _, g in levels_.groupby("run_id")]
    rows = []
    for level, g in levels_.groupby("level"):
        iv = repeat_interval(g["throughput_rps"])
        where = busiest_service(resources[resources["run_id"].isin(g["run_id"])], g) if len(resources) else None
        rows.append({"level": level, "concurrency": float(g["concurrency"].mean()), "throughput_rps": iv.estimate,
                     "throughput_low": iv.low, "throughput_high": iv.high, "p95_ms": float(g["p95_ms"].mean()),
                     "p95_response_ms": float(g["p95_response_ms"].mean()),
                     "error_rate": float(g["error_rate"].mean()),
                     "meets_slo": all(slo.met(r.p95_ms, r.error_rate) for r in g.itertuples()),
                     "generator_saturated_runs": int(g["generator_saturated"].sum()),
                     "busiest_service": where[0] if where else None,
                     "busiest_cpu_percent": where[1] if where else math.nan})
    trusted = levels_[~levels_["generator_saturated"].astype(bool)]
    try:
        usl_ = bootstrap_usl(trusted["concurrency"], trusted["throughput_rps"])
        r2 = fit_usl(trusted["concurrency"], trusted["throughput_rps"]).r2
    except (ValueError, RuntimeError):
        usl_, r2 = {}, math.nan
    saturated = sorted({float(x) for x in levels_.loc[levels_["generator_saturated"].astype(bool), "level"]})
    return CapacitySummary(pattern, arm, slo, pd.DataFrame(rows), repeat_interval(per_run), usl_, r2,
                           levels_["run_id"].nunique(), saturated)


def busiest_service(resources: pd.DataFrame, level_rows: pd.DataFrame) -> tuple[str, float] | None:
    """The service with the highest mean CPU over a level's windows (in every run of it)."""
    parts = [resources[(resources["run_id"] == r.run_id) & (resources["timestamp"] >= r.start)
                       & (resources["timestamp"] < r.end)] for r in level_rows.itertuples()]
    window = pd.concat(parts) if parts else resources.iloc[0:0]
    if window.empty:
        return None
    cpu = window.groupby("service")["cpu_percent"].mean().sort_values(ascending=False)
    return str(cpu.index[0]), float(cpu.iloc[0])


def service_load(study_dir, pattern: str, arm: str) -> pd.DataFrame:
    """Per level and service, the mean CPU (%) and resident memory (MB) over the level's windows in
    every trusted run of ``arm``: the resource view that says which service saturates first."""
    levels_ = results.load_source(study_dir, "levels", pattern)
    resources = results.load_source(study_dir, "resources", pattern)
    columns = ["level", "service", "cpu_percent", "rss_mb"]
    if levels_.empty or resources.empty:
        return pd.DataFrame(columns=columns)
    levels_ = levels_[(levels_["arm"] == arm) & ~levels_["warmup"].astype(bool)]
    parts = []
    for r in levels_.itertuples():
        window = resources[(resources["run_id"] == r.run_id) & (resources["timestamp"] >= r.start)
                           & (resources["timestamp"] < r.end)]
        parts.append(window.assign(level=r.level))
    if not parts:
        return pd.DataFrame(columns=columns)
    frame = pd.concat(parts, ignore_index=True)
    out = frame.groupby(["level", "service"]).agg(cpu_percent=("cpu_percent", "mean"),
                                                  rss_mb=("rss_bytes", lambda b: b.mean() / 1e6)).reset_index()
    return out[columns]


SATURATED_CPU = 80.0  # % of one core: a service at or above it is running out


def saturation_finding(load: pd.DataFrame, cpu_percent: float = SATURATED_CPU) -> str:
    """Which service runs out first as the level rises (its CPU reaching ``cpu_percent`` of a core), or,
    when none does, the busiest at the top level."""
    if load.empty:
        return "no per-service CPU was sampled"
    hot = load[load["cpu_percent"] >= cpu_percent].sort_values(["level", "cpu_percent"], ascending=[True, False])
    if len(hot):
        return f"{hot['service'].iloc[0]} reaches {cpu_percent:g} % of a core first, at level {hot['level'].iloc[0]:g}"
    top = load[load["level"] == load["level"].max()].sort_values("cpu_percent").iloc[-1]
    return (f"no service reaches {cpu_percent:g} % of a core; the busiest at the top level is {top['service']} "
            f"({top['cpu_percent']:.0f} %)")
