"""Change, confidence interval, significance and a verdict per claim.

Per-run metrics (rates, counts per request) are compared over repeats: one
value per run. Latency is compared over the requests pooled per arm, so p95
and p99 get an interval too. A change is ``significant`` only when
Mann-Whitney says p < alpha *and* the whole bootstrap interval lies beyond the
metric's noise threshold; a sample too small for the statistic asked is
``inconclusive``, never a confident number.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps

from analysis import patterns as pats
from analysis import results

ALPHA = 0.05
RESAMPLES = 2000
TAIL_REQUESTS = 10  # a quantile needs this many requests beyond it in each arm

COLUMNS = ["pattern", "metric", "claim", "baseline", "treatment", "change", "ci_low", "ci_high",
           "p_value", "significant", "verdict", "reason", "direction", "unit"]


@dataclass
class Comparison:
    """Treatment vs baseline for one metric; ``guard`` says why the sample is too small, if it is."""

    baseline: float
    treatment: float
    change: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    p_value: float = math.nan
    significant: bool = False
    direction: str = "no change"
    guard: str | None = None
    better: str = "lower"
    noise: float = pats.DEFAULT_NOISE


def _pct(x: float) -> str:
    return f"{x * 100:+.1f} %"


def smallest_mwu_p(n1: int, n2: int) -> float:
    """The smallest two-sided exact Mann-Whitney p-value ``n1`` vs ``n2`` samples can give."""
    return min(1.0, 2.0 / math.comb(n1 + n2, n1))


def min_requests(quantile: float | None) -> int:
    """Requests an arm needs before its ``quantile`` means anything (p99 → 1,000)."""
    return math.ceil(TAIL_REQUESTS / (1.0 - (quantile if quantile is not None else 0.5)))


def _label(change: float, significant: bool, better: str) -> str:
    if not significant:
        return "no change"
    if better == "none":
        return "increase" if change > 0 else "decrease"
    return "improvement" if (change < 0) == (better == "lower") else "regression"


def _bootstrap(samples: tuple[np.ndarray, np.ndarray], statistic, method: str, seed: int) -> tuple[float, float]:
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore")
        res = sps.bootstrap(samples, statistic, n_resamples=RESAMPLES, method=method, vectorized=True,
                            axis=-1, batch=50, random_state=np.random.default_rng(seed))
    low, high = res.confidence_interval
    if method == "BCa" and not (np.isfinite(low) and np.isfinite(high)):
        return _bootstrap(samples, statistic, "percentile", seed)
    return float(low), float(high)


def _compare(b: np.ndarray, t: np.ndarray, statistic, method: str, better: str, noise: float,
             seed: int) -> Comparison:
    """Change = statistic(t)/statistic(b) − 1, bootstrap CI, Mann-Whitney p, significance."""
    base, treat = float(statistic(b, axis=-1)), float(statistic(t, axis=-1))
    cmp = Comparison(base, treat, better=better, noise=noise)
    if base == 0:
        cmp.guard = (f"the baseline is 0 (treatment {treat:.4g}), so a relative change is undefined"
                     if treat != 0 else None)
        if treat == 0:
            cmp.change = cmp.ci_low = cmp.ci_high = 0.0
            cmp.p_value = 1.0
        return cmp
    cmp.change = treat / base - 1.0
    if np.ptp(b) == 0 and np.ptp(t) == 0:
        cmp.ci_low = cmp.ci_high = cmp.change  # constant arms: resampling cannot move the ratio
    else:
        def ratio(bs, ts, axis=-1):
            return statistic(ts, axis=axis) / statistic(bs, axis=axis) - 1.0
        cmp.ci_low, cmp.ci_high = _bootstrap((b, t), ratio, method, seed)
        if not (np.isfinite(cmp.ci_low) and np.isfinite(cmp.ci_high)):
            cmp.guard = ("no finite interval: resampled baselines hit 0 (a mostly-zero count); "
                         "run longer or with more repeats")
    cmp.p_value = 1.0 if np.array_equal(np.sort(b), np.sort(t)) else float(
        sps.mannwhitneyu(t, b, alternative="two-sided").pvalue)
    cmp.significant = bool(cmp.p_value < ALPHA and (cmp.ci_low > noise or cmp.ci_high < -noise))
    cmp.direction = _label(cmp.change, cmp.significant, better)
    return cmp


def compare_runs(baseline, treatment, *, better: str = "lower", noise: float = pats.DEFAULT_NOISE,
                 seed: int = 0) -> Comparison:
    """Per-run values (one per repeat): change of the means, BCa interval over runs."""
    b, t = np.asarray(baseline, float), np.asarray(treatment, float)
    cmp = (_compare(b, t, np.mean, "BCa", better, noise, seed) if len(b) and len(t)
           else Comparison(math.nan, math.nan, better=better, noise=noise))
    floor = smallest_mwu_p(len(b), len(t)) if len(b) and len(t) else 1.0
    if floor >= ALPHA:
        need = next(n for n in range(2, 50) if smallest_mwu_p(n, n) < ALPHA)
        cmp.guard = (f"{len(b)} vs {len(t)} runs cannot reach p < {ALPHA} (smallest possible p "
                     f"{floor:.2f}); run at least {need} repeats per arm")
        cmp.significant, cmp.direction = False, "no change"
    return cmp


def compare_latency(baseline_ms, treatment_ms, *, quantile: float | None, better: str = "lower",
                    noise: float = pats.DEFAULT_NOISE, seed: int = 0) -> Comparison:
    """Per-request latencies pooled per arm: change of the quantile (or mean), percentile interval."""
    b, t = np.asarray(baseline_ms, float), np.asarray(treatment_ms, float)
    need = min_requests(quantile)
    if min(len(b), len(t)) < need:
        what = f"p{quantile * 100:g}" if quantile is not None else "the mean"
        base = float(np.quantile(b, quantile)) if len(b) and quantile is not None else math.nan
        treat = float(np.quantile(t, quantile)) if len(t) and quantile is not None else math.nan
        return Comparison(base, treat, better=better, noise=noise, guard=f"{what} needs at least {need} requests per arm; "
                                            f"got {len(b)} and {len(t)}: run longer or with more users")
    if quantile is None:
        statistic = np.mean
    else:
        def statistic(x, axis=-1):
            return np.quantile(x, quantile, axis=axis)
    return _compare(b, t, statistic, "percentile", better, noise, seed)


def judge(expectation: pats.Expectation | None, cmp: Comparison, treatment_values=()) -> tuple[str, str]:
    """The verdict on one claim and a sentence a person can read."""
    if expectation is None:
        return "", "context: the pattern makes no claim on this metric"
    kind, lo, hi = expectation.kind, expectation.low, expectation.high
    if kind == "zero":
        total = float(np.nansum(np.asarray(treatment_values, float)))
        if len(treatment_values) == 0:
            return "not measured", "no treatment run recorded this metric"
        if total == 0:
            return "holds", f"0 in every one of {len(treatment_values)} treatment runs, as claimed"
        return "refuted", f"{total:g} in the treatment runs; the claim needs 0"
    if cmp.guard:
        return "inconclusive", cmp.guard
    ci = f"{_pct(cmp.change)} [{_pct(cmp.ci_low)}, {_pct(cmp.ci_high)}]"
    p = f"p = {cmp.p_value:.3g}"
    if kind == "none":
        if cmp.significant:
            return "refuted", f"identical arms differ by {ci} ({p}): the lab is measuring noise"
        return "holds", f"no significant change: {ci}, {p}"
    if kind == "no_regression":
        worst = cmp.ci_high if cmp.better == "lower" else -cmp.ci_low  # the worst plausible regression
        if cmp.direction == "regression":
            return "refuted", f"regressed by {ci} ({p})"
        if worst <= cmp.noise:
            return "holds", f"no regression beyond {cmp.noise * 100:.0f} %: {ci}"
        return "inconclusive", f"the interval {ci} does not rule out a regression beyond {cmp.noise * 100:.0f} %"
    claimed = expectation.describe()
    if kind in ("at_most", "decrease"):  # the claim's weaker end is ``high``: falling further still holds
        reached, missed, bound = cmp.ci_high <= hi, cmp.ci_low > hi, hi
    else:  # increase
        reached, missed, bound = cmp.ci_low >= lo, cmp.ci_high < lo, lo
    if reached and (cmp.significant or kind == "at_most"):
        return "holds", f"{ci} ({p}) lies within or beyond the claimed {claimed}"
    if reached:
        return "inconclusive", f"{ci} agrees with the claimed {claimed} but is not significant ({p})"
    if missed:
        return "refuted", f"{ci} ({p}): the whole interval falls short of the claimed {claimed}"
    return "inconclusive", f"the interval {ci} straddles the claimed bound {_pct(bound)}"


def _per_run(derived: pd.DataFrame, metric: pats.Metric) -> dict[str, np.ndarray] | None:
    """One value per run and arm; ``count`` metrics become rates per request."""
    wide = derived.pivot_table(index=["run_id", "arm"], columns="metric", values="value", aggfunc="last")
    name = metric.count or metric.name
    if name not in wide.columns or (metric.count and "requests" not in wide.columns):
        return None
    values = wide[name] / wide["requests"] if metric.count else wide[name]
    values = values.dropna()
    return {arm: values.xs(arm, level="arm").to_numpy(float) for arm in ("baseline", "treatment")
            if arm in values.index.get_level_values("arm")}


def _latencies(requests: pd.DataFrame, metric: pats.Metric) -> dict[str, np.ndarray]:
    ok = requests[requests["success"].astype(bool)]
    if metric.endpoint:
        ok = ok[ok["name"].astype(str).str.contains(metric.endpoint, regex=False)]
    return {arm: g["response_time_ms"].to_numpy(float) for arm, g in ok.groupby("arm")}


def _samples(samples: pd.DataFrame, metric: pats.Metric) -> dict[str, np.ndarray]:
    rows = samples[samples["name"] == metric.endpoint]
    return {arm: g["value"].to_numpy(float) for arm, g in rows.groupby("arm")}


def _row(pattern: pats.Pattern, metric: pats.Metric, **values) -> dict:
    expectation = pattern.expectation(metric.name)
    row = dict.fromkeys(COLUMNS, math.nan)
    row.update({"pattern": pattern.id, "metric": metric.name, "significant": False, "direction": "",
                "claim": expectation.describe() if expectation else "", "unit": metric.unit, **values})
    return row


def compare_pattern(study_dir: Path, pattern: pats.Pattern, excluded: str = "") -> list[dict]:
    """One row per metric of ``pattern`` from the complete, trusted, non-warm-up runs of a study."""
    keep = results.runs(study_dir)
    keep = keep[(keep["pattern"] == pattern.id) & ~keep["warmup"].astype(bool) & ~keep["untrusted"].astype(bool)]
    ids = set(keep["run_id"])
    derived = results.load_source(study_dir, "derived", pattern.id)
    derived = derived[derived["run_id"].isin(ids)]
    requests = results.load_source(study_dir, "requests", pattern.id)
    requests = requests[requests["run_id"].isin(ids)]
    probed = results.load_source(study_dir, "samples", pattern.id)
    probed = probed[probed["run_id"].isin(ids)] if len(probed) else probed
    rows = []
    for metric in pattern.metrics:
        samples = (_per_run(derived, metric) if metric.source == "derived" and len(derived)
                   else _latencies(requests, metric) if metric.source == "latency" and len(requests)
                   else _samples(probed, metric) if metric.source == "samples" and len(probed) else None)
        if not samples or set(samples) != {"baseline", "treatment"}:
            rows.append(_row(pattern, metric, verdict="not measured",
                             reason=f"no run of both arms recorded {metric.name}{excluded}"))
            continue
        if metric.source == "derived":
            cmp = compare_runs(samples["baseline"], samples["treatment"], better=metric.better, noise=metric.noise)
        else:
            cmp = compare_latency(samples["baseline"], samples["treatment"], quantile=metric.quantile,
                                  better=metric.better, noise=metric.noise)
        verdict, reason = judge(pattern.expectation(metric.name), cmp, samples["treatment"])
        rows.append(_row(pattern, metric, baseline=cmp.baseline, treatment=cmp.treatment, change=cmp.change,
                         ci_low=cmp.ci_low, ci_high=cmp.ci_high, p_value=cmp.p_value,
                         significant=cmp.significant, verdict=verdict, reason=reason + excluded,
                         direction=cmp.direction))
    return rows


def compare_study(study_dir: Path) -> pd.DataFrame:
    """The comparison table of a stored study: one row per pattern and metric."""
    study = results.load_study(study_dir)
    rows = []
    for pattern_id in study.meta.get("patterns", []):
        pattern = pats.get(pattern_id)
        why = study.meta.get("not_measured", {}).get(pattern_id)
        if why:
            rows += [_row(pattern, m, verdict="not measured", reason=why) for m in pattern.metrics]
            continue
        untrusted = [r for r in study.runs if r.pattern == pattern_id and r.untrusted and not r.warmup]
        excluded = f" ({len(untrusted)} untrusted runs left out)" if untrusted else ""
        rows += compare_pattern(Path(study_dir), pattern, excluded)
    return pd.DataFrame(rows, columns=COLUMNS)
