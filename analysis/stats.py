"""Change, confidence interval, significance and a verdict per claim; the run is the unit.

Every metric is reduced to one value per run first (a rate, a count, or the run's own
p50/p95/p99 of its successful requests or of a probe's samples). The two arms are then
compared over those run-level values: with a paired t on the within-repeat differences when
every repeat holds one run of each arm (the ABBA blocks: a slow drift of the shared machine
cancels inside a block and leaves the variance), else with Welch's t; either on

* the logarithm (``Metric.scale == "relative"``): the change is the ratio of the arms'
  geometric means minus 1, its interval ``exp(Welch interval) − 1``;
* the values themselves (``"absolute"``: zero-heavy counts, hit ratios in percentage
  points): the change is the difference of the arms' means, in the metric's unit.

Both tests over runs are the ones whose coverage and false-positive rate
``tests/unit/test_stats_simulation.py`` measures (10 % run-to-run drift, 30–1,500 requests
per run): pooled-request statistics ignore that drift and flag A/A comparisons far too often.
The interval and the p-value come from the same statistic, so ``p < alpha`` exactly when the
interval excludes 0.

Each pattern has one primary claim, tested at ``ALPHA``; its other claims are secondary and
corrected together with Bonferroni (interval level ``1 − ALPHA/m``, ``p_adjusted = min(1, m·p)``),
so the family-wise false-positive rate of a pattern's secondary checks is at most ``ALPHA``.
A change is ``significant`` when the (corrected) interval lies wholly beyond the metric's
noise threshold; the verdict reads the interval against the claim's bound.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps

from analysis import noise as noise_table
from analysis import patterns as pats
from analysis import results

from analysis.repeats import DEFAULT_REPEATS, MIN_RUNS

ALPHA = 0.05
TAIL_REQUESTS = 10  # a quantile needs this many requests beyond it in each arm

COLUMNS = ["pattern", "metric", "claim", "baseline", "treatment", "change", "ci_low", "ci_high",
           "p_value", "significant", "verdict", "reason", "direction", "unit",
           "role", "p_adjusted", "scale", "noise", "noise_source", "runs"]


@dataclass
class Comparison:
    """Treatment vs baseline for one metric; ``guard`` says why the sample is too small, if it is.

    ``change``/``ci_low``/``ci_high`` are fractions (relative scale) or differences in the
    metric's unit (absolute scale); ``baseline``/``treatment`` the arms' run-level centres
    (geometric means on the relative scale, means on the absolute one)."""

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
    scale: str = "relative"
    runs: str = ""


@dataclass(frozen=True)
class Test:
    """The run-level test of many comparisons at once (arrays over the leading axes)."""

    change: np.ndarray
    low: np.ndarray
    high: np.ndarray
    p: np.ndarray
    significant: np.ndarray


@dataclass(frozen=True)
class Welch:
    """Welch's two-sample t over the last axis: difference of means, its interval and p (vectorised)."""

    diff: np.ndarray
    low: np.ndarray
    high: np.ndarray
    p: np.ndarray


def paired(b: np.ndarray, t: np.ndarray, level: float = 1 - ALPHA) -> Welch:
    """The one-sample t on ``t − b`` (aligned pairs on the last axis): mean difference, interval, p."""
    d = np.asarray(t, float) - np.asarray(b, float)
    n = d.shape[-1]
    diff = d.mean(axis=-1)
    se = d.std(axis=-1, ddof=1) / np.sqrt(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = sps.t.ppf(1 - (1 - level) / 2, n - 1)
        p = 2 * sps.t.sf(np.abs(diff) / se, n - 1)
    point = se == 0
    return Welch(diff, np.where(point, diff, diff - q * se), np.where(point, diff, diff + q * se),
                 np.where(point, np.where(diff == 0, 1.0, 0.0), p))


def welch(b: np.ndarray, t: np.ndarray, level: float = 1 - ALPHA) -> Welch:
    """``mean(t) − mean(b)`` with a ``level`` interval; arms with no spread give a point."""
    b, t = np.asarray(b, float), np.asarray(t, float)
    nb, nt = b.shape[-1], t.shape[-1]
    vb, vt = b.var(axis=-1, ddof=1) / nb, t.var(axis=-1, ddof=1) / nt
    diff = t.mean(axis=-1) - b.mean(axis=-1)
    var = vb + vt
    with np.errstate(divide="ignore", invalid="ignore"):
        df = var ** 2 / (vb ** 2 / (nb - 1) + vt ** 2 / (nt - 1))
        se = np.sqrt(var)
        q = sps.t.ppf(1 - (1 - level) / 2, df)
        p = 2 * sps.t.sf(np.abs(diff) / se, df)
    point = var == 0
    low = np.where(point, diff, diff - q * se)
    high = np.where(point, diff, diff + q * se)
    p = np.where(point, np.where(diff == 0, 1.0, 0.0), p)
    return Welch(diff, low, high, p)


def run_test(b: np.ndarray, t: np.ndarray, *, scale: str = "relative", level: float = 1 - ALPHA,
             noise: float = pats.DEFAULT_NOISE, pairs: bool = False) -> Test:
    """Run-level values (runs on the last axis, > 0 on the relative scale; aligned by repeat when
    ``pairs``) → change, interval, p and significance beyond ``noise``: the statistic of every
    verdict, vectorised for the simulation tests."""
    test = paired if pairs else welch
    if scale == "relative":
        w = test(np.log(b), np.log(t), level)
        change, low, high = np.expm1(w.diff), np.expm1(w.low), np.expm1(w.high)
    else:
        w = test(b, t, level)
        change, low, high = w.diff, w.low, w.high
    return Test(change, low, high, w.p, (low > noise) | (high < -noise))


def level(pattern: pats.Pattern, metric: str) -> tuple[float, int]:
    """The interval level of ``metric``'s claim and the size of its Bonferroni family (1: no correction)."""
    family = len(pattern.secondary_tested())
    if pattern.role(metric) != "secondary" or pattern.expectation(metric) not in pattern.secondary_tested():
        return 1 - ALPHA, 1  # the primary claim, context, or a must-be-0 count judged run by run, not by an interval
    return 1 - ALPHA / family, family


#: one palette for verdicts, in the terminal, the plots and the report (Okabe-Ito: distinguishable with
#: every common colour-vision deficiency)
VERDICT_COLOURS = {"holds": "#009e73", "refuted": "#d55e00", "inconclusive": "#7f7f7f", "not measured": "#bbbbbb"}


def percent(fraction: float | None, digits: int = 1, minus: str = "-") -> str:
    """A fraction as a signed percentage: ``0.123`` → ``+12.3 %``; NaN or None → ``n/a``. ``minus="\u2212"``
    sets a typographic minus (the report's pages)."""
    if fraction is None or not np.isfinite(fraction):
        return "n/a"
    return f"{fraction * 100:+.{digits}f} %".replace("-", minus)


def format_change(value: float, scale: str = "relative", unit: str = "") -> str:
    """A change as people read it: ``+12.3 %`` (relative), ``+5.0 pp`` (a ratio or a rate per
    request, absolute) or ``+3 requests`` (a count, absolute)."""
    if value is None or not np.isfinite(value):
        return "n/a"
    if scale == "relative":
        return percent(value)
    if unit == "ratio" or unit.endswith("/request"):
        return f"{value * 100:+.1f} pp"
    return f"{value:+.4g} {unit}".strip()


def min_requests(quantile: float | None) -> int:
    """Requests an arm needs before its ``quantile`` means anything (p99 → 1,000)."""
    return math.ceil(TAIL_REQUESTS / (1.0 - (quantile if quantile is not None else 0.5)))


def _label(change: float, significant: bool, better: str) -> str:
    if not significant:
        return "no change"
    if better == "none":
        return "increase" if change > 0 else "decrease"
    return "improvement" if (change < 0) == (better == "lower") else "regression"


def compare_runs(baseline, treatment, *, better: str = "lower", noise: float = pats.DEFAULT_NOISE,
                 scale: str = "relative", level: float = 1 - ALPHA, pairs: bool = False) -> Comparison:
    """One value per run and arm → change, ``level`` interval, p, significance beyond ``noise``.
    ``pairs``: the i-th baseline and treatment runs share a repeat (an ABBA block): a paired test."""
    b, t = np.asarray(baseline, float), np.asarray(treatment, float)
    pairs = pairs and len(b) == len(t)
    cmp = Comparison(math.nan, math.nan, better=better, noise=noise, scale=scale,
                     runs=f"{len(b)} ABBA pairs" if pairs else f"{len(b)} vs {len(t)} runs")
    if min(len(b), len(t)) < MIN_RUNS:
        cmp.guard = (f"{len(b)} vs {len(t)} runs: the test needs at least {MIN_RUNS} runs per arm; "
                     f"run with --repeats {DEFAULT_REPEATS}")
        if len(b) and len(t):
            cmp.baseline, cmp.treatment = float(np.mean(b)), float(np.mean(t))
        return cmp
    if scale == "relative" and ((b <= 0).any() or (t <= 0).any()):
        cmp.baseline, cmp.treatment = float(np.mean(b)), float(np.mean(t))
        cmp.guard = (f"a run's value is 0, so a relative change is undefined (baseline {cmp.baseline:.4g}, "
                     f"treatment {cmp.treatment:.4g})")
        return cmp
    centre = (lambda x: float(np.exp(np.log(x).mean()))) if scale == "relative" else (lambda x: float(x.mean()))
    cmp.baseline, cmp.treatment = centre(b), centre(t)
    test = run_test(b, t, scale=scale, level=level, noise=noise, pairs=pairs)
    cmp.change, cmp.ci_low, cmp.ci_high, cmp.p_value = (float(x) for x in (test.change, test.low, test.high, test.p))
    cmp.significant = bool(test.significant)
    cmp.direction = _label(cmp.change, cmp.significant, better)
    return cmp


def judge(expectation: pats.Expectation | None, cmp: Comparison, treatment_values=()) -> tuple[str, str]:
    """The verdict on one claim and a sentence a person can read; it agrees with the interval."""
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
    fmt = lambda x: format_change(x, cmp.scale, "ratio")  # noqa: E731  (absolute claims are ratios or rates)
    ci = f"{fmt(cmp.change)} [{fmt(cmp.ci_low)}, {fmt(cmp.ci_high)}]"
    p = f"p = {cmp.p_value:.3g}"
    bound = fmt(cmp.noise) if cmp.scale == "absolute" else f"{cmp.noise * 100:.0f} %"
    if kind == "none":
        if cmp.significant:
            return "refuted", (f"identical arms differ by {ci} ({p}), beyond the ±{bound} noise: "
                               "the lab is measuring noise")
        return "holds", f"no significant change: {ci}, {p}"
    if kind == "no_regression":
        if cmp.better == "higher":
            beyond, inside = cmp.ci_high < -cmp.noise, cmp.ci_low >= -cmp.noise
        else:
            beyond, inside = cmp.ci_low > cmp.noise, cmp.ci_high <= cmp.noise
        if beyond:
            return "refuted", f"regressed: the whole interval {ci} lies beyond the {bound} no-regression bound ({p})"
        if inside:
            return "holds", f"no regression beyond {bound}: the whole interval {ci} is inside the bound"
        return "inconclusive", f"the interval {ci} does not rule out a regression beyond {bound}"
    claimed = expectation.describe()
    if kind in ("at_most", "decrease"):  # the claim's weaker end is ``high``: falling further still holds
        reached, missed, edge = cmp.ci_high <= hi, cmp.ci_low > hi, hi
    else:  # increase
        reached, missed, edge = cmp.ci_low >= lo, cmp.ci_high < lo, lo
    if reached and (cmp.significant or kind == "at_most"):
        return "holds", f"{ci} ({p}) lies within or beyond the claimed {claimed}"
    if reached:
        return "inconclusive", f"{ci} agrees with the claimed {claimed} but not beyond the ±{bound} noise ({p})"
    if missed:
        return "refuted", f"{ci} ({p}): the whole interval falls short of the claimed {claimed}"
    return "inconclusive", f"the interval {ci} straddles the claimed bound {fmt(edge)}"


# -- one value per run ------------------------------------------------------------------------

def _quantile(values: pd.core.groupby.SeriesGroupBy, quantile: float | None) -> pd.Series:
    return values.quantile(quantile) if quantile is not None else values.mean()


def run_values(metric: pats.Metric, derived: pd.DataFrame, requests: pd.DataFrame,
               samples: pd.DataFrame) -> pd.Series:
    """``metric`` as one value per run, indexed by (run_id, arm): a derived value (a count over
    the run's ``requests`` when ``metric.count``), or the run's own quantile of its successful
    requests or of its probe samples."""
    empty = pd.Series(dtype=float, index=pd.MultiIndex.from_arrays([[], []], names=["run_id", "arm"]))
    if metric.source == "derived":
        if not len(derived):
            return empty
        wide = derived.pivot_table(index=["run_id", "arm"], columns="metric", values="value", aggfunc="last")
        name = metric.count or metric.name
        if name not in wide.columns or (metric.count and "requests" not in wide.columns):
            return empty
        return (wide[name] / wide["requests"] if metric.count else wide[name]).dropna()
    if metric.source == "latency":
        if not len(requests):
            return empty
        ok = requests[requests["success"].astype(bool)]
        if metric.endpoint:
            ok = ok[ok["name"].astype(str).str.contains(metric.endpoint, regex=False)]
        return _quantile(ok.groupby(["run_id", "arm"])["response_time_ms"], metric.quantile).dropna()
    if not len(samples):
        return empty
    rows = samples[samples["name"] == metric.endpoint]
    return _quantile(rows.groupby(["run_id", "arm"])["value"], metric.quantile).dropna()


def _arm_counts(metric: pats.Metric, requests: pd.DataFrame, samples: pd.DataFrame) -> dict[str, int]:
    """Requests (or samples) behind a quantile metric, per arm: a p99 of too few says nothing."""
    if metric.source == "latency":
        ok = requests[requests["success"].astype(bool)]
        if metric.endpoint:
            ok = ok[ok["name"].astype(str).str.contains(metric.endpoint, regex=False)]
        return ok.groupby("arm").size().to_dict()
    rows = samples[samples["name"] == metric.endpoint]
    return rows.groupby("arm").size().to_dict()


def unmeasured_probe(metric: pats.Metric, derived: pd.DataFrame, metas: dict[str, results.RunMeta],
                     values: pd.Series) -> str | None:
    """Why a probe's metric cannot be judged: the probe failed, made 0 checks or left no value in a
    measured run (quoting the probe's own error); None when every run of both arms has both."""
    if not metric.checks:
        return None
    checks = (derived[derived["metric"] == metric.checks].groupby("run_id")["value"].last()
              if len(derived) else pd.Series(dtype=float))
    have = set(values.index.get_level_values("run_id"))
    for run_id in sorted(metas):
        errors = [e for e in metas[run_id].workload.get("probe_errors") or []
                  if e.startswith(f"probe {metric.probe}:")]
        if errors:
            return f"{errors[0]} (run {run_id})"
        if not checks.get(run_id, 0) > 0:
            return f"0 checks in run {run_id} ({metric.checks} is {checks.get(run_id, 'missing')})"
        if run_id not in have:
            return f"run {run_id} recorded no {metric.name}"
    return None


# -- a study ----------------------------------------------------------------------------------

def _row(pattern: pats.Pattern, metric: pats.Metric, **values) -> dict:
    row = dict.fromkeys(COLUMNS, math.nan)
    row.update({"pattern": pattern.id, "metric": metric.name, "significant": False, "direction": "",
                "claim": pattern.describe(metric.name), "unit": metric.unit, "scale": metric.scale,
                "role": pattern.role(metric.name), "noise_source": "", "runs": "",
                **values})
    return row


def _arms(values: pd.Series, metas: dict[str, results.RunMeta]) -> tuple[dict[str, np.ndarray], bool]:
    """Each arm's run values ordered by repeat, and whether they pair up one-to-one by repeat."""
    frame = values.rename("value").reset_index()
    frame["repeat"] = frame["run_id"].map(lambda r: metas[r].repeat if r in metas else -1)
    frame = frame.sort_values(["repeat", "run_id"])
    arms = {arm: g["value"].to_numpy(float) for arm, g in frame.groupby("arm")}
    per_repeat = frame.groupby("repeat")["arm"].agg(lambda a: tuple(sorted(a)))
    pairs = (bool(len(per_repeat)) and (frame["repeat"] >= 0).all()
             and (per_repeat == ("baseline", "treatment")).all())
    return arms, pairs


def compare_pattern(study_dir: Path, pattern: pats.Pattern, excluded: str = "",
                    thresholds: noise_table.Thresholds | None = None) -> list[dict]:
    """One row per metric of ``pattern`` from the complete, trusted, non-warm-up runs of a study."""
    thresholds = thresholds or noise_table.Thresholds()
    study = results.load_study(study_dir)
    metas = {m.run_id: m for m in study.measured_runs(pattern.id)}
    ids = set(metas)

    def load(source: str) -> pd.DataFrame:
        frame = results.load_source(study_dir, source, pattern.id)
        return frame[frame["run_id"].isin(ids)] if len(frame) else frame
    derived, requests, samples = load("derived"), load("requests"), load("samples")
    rows = []
    for metric in pattern.metrics:
        values = run_values(metric, derived, requests, samples)
        arms, pairs = _arms(values, metas)
        limit, source = thresholds.noise(metric)
        why = unmeasured_probe(metric, derived, metas, values)
        if why or set(arms) != {"baseline", "treatment"}:
            rows.append(_row(pattern, metric, verdict="not measured", noise=limit, noise_source=source,
                             reason=(why or f"no run of both arms recorded {metric.name}") + excluded))
            continue
        confidence, family = level(pattern, metric.name)
        cmp = compare_runs(arms["baseline"], arms["treatment"], better=metric.better, noise=limit,
                           scale=metric.scale, level=confidence, pairs=pairs)
        if metric.source != "derived" and not cmp.guard:
            counts, need = _arm_counts(metric, requests, samples), min_requests(metric.quantile)
            if min(counts.get("baseline", 0), counts.get("treatment", 0)) < need:
                what = f"p{metric.quantile * 100:g}" if metric.quantile is not None else "the mean"
                cmp.guard = (f"{what} needs at least {need} requests per arm; got {counts.get('baseline', 0)} "
                             f"and {counts.get('treatment', 0)}: run longer or with more users")
                cmp.significant, cmp.direction = False, "no change"
        verdict, reason = judge(pattern.expectation(metric.name), cmp, arms["treatment"])
        if family > 1 and not cmp.guard and verdict:
            reason += f" (secondary check: {confidence * 100:.1f} % interval, Bonferroni over {family})"
        rows.append(_row(pattern, metric, baseline=cmp.baseline, treatment=cmp.treatment, change=cmp.change,
                         ci_low=cmp.ci_low, ci_high=cmp.ci_high, p_value=cmp.p_value,
                         p_adjusted=min(1.0, cmp.p_value * family) if np.isfinite(cmp.p_value) else math.nan,
                         significant=cmp.significant, verdict=verdict, reason=reason + excluded,
                         direction=cmp.direction, noise=limit, noise_source=source, runs=cmp.runs))
    return rows


def compare_study(study_dir: Path, thresholds: noise_table.Thresholds | None = None) -> pd.DataFrame:
    """The comparison table of a stored study: one row per pattern and metric. Noise thresholds come
    from the stored calibration of the machine that ran the study (its runs name the host), else the
    patterns' constants."""
    study = results.load_study(study_dir)
    if thresholds is None:
        host = next((r.machine.get("hostname") for r in study.runs if r.machine.get("hostname")), None)
        thresholds = noise_table.load(Path(study_dir).parent, host) if host else noise_table.Thresholds()
    rows = []
    for pattern_id in study.meta.patterns:
        pattern = pats.get(pattern_id)
        why = study.meta.not_measured.get(pattern_id)
        if why:
            rows += [_row(pattern, m, verdict="not measured", reason=why) for m in pattern.metrics]
            continue
        untrusted = [r for r in study.runs if r.pattern == pattern_id and r.untrusted and not r.warmup]
        excluded = f" ({len(untrusted)} untrusted runs left out)" if untrusted else ""
        rows += compare_pattern(Path(study_dir), pattern, excluded, thresholds)
    return pd.DataFrame(rows, columns=COLUMNS)
