"""Dose–response sweeps: one toggle over several values instead of two arms.

A pattern's claim may hold only from some setting on (the L2 cache's "+20…30 %" from some number of
instances on; the query cache's hit ratio and staleness against its TTL). A sweep runs the pattern's
treatment at each value of one toggle, plus its baseline as the reference the claim is judged
against, the arms rotated from repeat to repeat (a Latin square: every arm takes every position once
per cycle, so drift on a shared machine spreads over all values). The run is the unit: each metric is
one value per run; per value a t interval over its runs; across values a trend (Spearman's ρ over
runs and an ordinary least-squares slope with its interval); and per value the claim judged against
the baseline (Bonferroni over the values), from which "the claim holds from value v on" follows.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps

from analysis import noise as noise_table
from analysis import patterns as pats
from analysis import results, stats
from analysis.capacity import Interval, repeat_interval
from analysis.stack.toggles import TOGGLES, ToggleError, check

REFERENCE = "baseline"  # the arm a sweep judges its claim against: the pattern's own baseline


class SweepError(ValueError):
    """A sweep that cannot run as asked; the message says what to change."""


@dataclass(frozen=True)
class Sweep:
    """``toggle`` swept over ``values`` (validated by the toggle's spec, in the order given) on the
    pattern's treatment arm; ``reference``: the pattern's baseline runs beside them."""

    toggle: str
    values: tuple[str, ...]
    reference: bool = True

    @classmethod
    def parse(cls, text: str, reference: bool = True) -> "Sweep":
        """``"SENTINEL_CACHE_TTL_S=5,30,120"`` → a Sweep; unknown toggles and bad values are errors."""
        name, sep, rest = text.partition("=")
        name = name.strip()
        if not sep or not name or not rest.strip():
            raise SweepError(f"--sweep expects NAME=V1,V2,…, got {text!r} (e.g. SENTINEL_CACHE_TTL_S=5,30,120)")
        if name not in TOGGLES:
            raise SweepError(f"unknown toggle {name!r}; known toggles: {', '.join(sorted(TOGGLES))}")
        try:
            values = tuple(check(TOGGLES[name], v) for v in rest.split(",") if v.strip())
        except ToggleError as exc:
            raise SweepError(str(exc)) from None
        if len(set(values)) < 2 or len(set(values)) != len(values):
            raise SweepError(f"--sweep {name} needs at least two distinct values, each once; got {', '.join(values)}")
        return cls(name, values, reference)

    @classmethod
    def from_record(cls, record: dict) -> "Sweep":
        return cls(record["toggle"], tuple(record["values"]), bool(record.get("reference", True)))

    def record(self) -> dict:
        return {**asdict(self), "values": list(self.values)}

    @property
    def numeric(self) -> bool:
        return TOGGLES[self.toggle].numeric

    def arm(self, value: str) -> str:
        return f"{self.toggle}={value}"

    @property
    def arms(self) -> tuple[str, ...]:
        return ((REFERENCE,) if self.reference else ()) + tuple(self.arm(v) for v in self.values)

    def value_of(self, arm: str) -> str | None:
        """The swept value of ``arm`` (None for the reference)."""
        prefix = f"{self.toggle}="
        return arm[len(prefix):] if arm.startswith(prefix) else None

    def toggles(self, pattern: pats.Pattern, arm: str) -> dict[str, str]:
        """What ``arm`` sets: the pattern's baseline for the reference, else its treatment with the value."""
        value = self.value_of(arm)
        if value is None:
            return dict(pattern.baseline)
        return {**pattern.treatment, self.toggle: value}

    def check(self, pattern: pats.Pattern) -> None:
        """A sweep needs a pattern whose runs are plain load runs (not fault timelines or staircases)."""
        if pattern.backtest is not None or pattern.workload.levels:
            raise SweepError(f"pattern {pattern.id} plays fault timelines or load staircases; a sweep runs "
                             "patterns of ordinary load runs (e.g. redis-cache, truthsync-l2)")
        if self.toggle in pattern.baseline and self.reference and self.toggle not in pattern.treatment:
            raise SweepError(f"{self.toggle} is set by {pattern.id}'s baseline: sweep it without the reference")


def rotated(arms: tuple[str, ...], repeat: int) -> tuple[str, ...]:
    """The arms' order in ``repeat``: a cyclic Latin square (row r starts at arm r mod k), so over k
    repeats each arm runs once in each position; never all runs of one value first."""
    k = repeat % len(arms)
    return arms[k:] + arms[:k]


# -- analysis ---------------------------------------------------------------------------------

TABLE_COLUMNS = ["metric", "value", "dose", "runs", "mean", "low", "high", "unit",
                 "change", "ci_low", "ci_high", "verdict", "reason"]


@dataclass(frozen=True)
class Trend:
    """Across the swept values, over runs: Spearman's ρ (with p) and the OLS slope per unit of the toggle."""

    rho: float
    p_value: float
    slope: float
    slope_low: float
    slope_high: float
    runs: int

    @property
    def direction(self) -> str:
        if not (self.p_value < stats.ALPHA) or not np.isfinite(self.rho):
            return "no monotone trend"
        return "rises with the value" if self.rho > 0 else "falls with the value"


def trend(doses, values, confidence: float = 1 - stats.ALPHA) -> Trend:
    """Spearman's ρ and the least-squares slope of ``values`` on ``doses`` (one pair per run)."""
    x, y = np.asarray(doses, float), np.asarray(values, float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(np.unique(x)) < 2 or len(x) < 3:
        return Trend(math.nan, math.nan, math.nan, math.nan, math.nan, len(x))
    if np.ptp(y) == 0:
        return Trend(math.nan, 1.0, 0.0, 0.0, 0.0, len(x))
    rho, p = sps.spearmanr(x, y)
    fit = sps.linregress(x, y)
    half = sps.t.ppf((1 + confidence) / 2, len(x) - 2) * fit.stderr
    return Trend(float(rho), float(p), float(fit.slope), float(fit.slope - half), float(fit.slope + half), len(x))


def holds_from(doses: list[float], verdicts: list[str]) -> float | None:
    """The smallest dose from which the claim holds at every larger dose too (None: at no dose)."""
    order = sorted(range(len(doses)), key=lambda i: doses[i])
    start = None
    for i in reversed(order):
        if verdicts[i] != "holds":
            break
        start = doses[i]
    return start


@dataclass
class DoseResponse:
    """One metric of a sweep study: per value its mean over runs with an interval, the change against
    the reference with the claim's verdict there, the trend, and from which value the claim holds."""

    pattern: str
    metric: str
    unit: str
    claim: str
    table: pd.DataFrame  # TABLE_COLUMNS, one row per value (the reference first)
    trend: Trend
    holds_from: str | None  # the value (as the toggle takes it) from which the claim holds, if any
    not_measured: str | None = None

    def summary(self) -> str:
        """One sentence for the report and the terminal."""
        if self.not_measured:
            return f"{self.metric}: not measured: {self.not_measured}"
        t = self.trend
        line = (f"{self.metric} {t.direction} (Spearman ρ {t.rho:+.2f}, p = {t.p_value:.3g}; slope "
                f"{t.slope:.3g} [{t.slope_low:.3g}, {t.slope_high:.3g}] {self.unit} per unit, {t.runs} runs)"
                if np.isfinite(t.rho) else f"{self.metric}: no trend test ({t.runs} runs over the values)")
        if self.claim:
            swept = self.table[self.table["value"] != REFERENCE].sort_values("dose")
            if self.holds_from is None:
                line += f"; the claim ({self.claim}) holds at no swept value"
            elif len(swept) and self.holds_from == swept["value"].iloc[0]:
                line += f"; the claim ({self.claim}) holds at every swept value"
            else:
                line += f"; the claim ({self.claim}) holds from {self.holds_from} on"
        return line

    def as_dict(self) -> dict:
        table = self.table.astype(object).where(self.table.notna(), None)
        return {"pattern": self.pattern, "metric": self.metric, "unit": self.unit, "claim": self.claim,
                "values": table.to_dict("records"), "trend": asdict(self.trend),
                "holds_from": self.holds_from, "not_measured": self.not_measured, "summary": self.summary()}


def _dose(sweep: Sweep, value: str, position: int) -> float:
    return float(value) if sweep.numeric else float(position)


def dose_response(study_dir: Path, pattern: pats.Pattern, metric: pats.Metric, sweep: Sweep,
                  frames: dict[str, pd.DataFrame], metas: dict[str, results.RunMeta],
                  thresholds: noise_table.Thresholds) -> DoseResponse:
    values = stats.run_values(metric, frames["derived"], frames["requests"], frames["samples"])
    # a probe that checked nothing in the swept runs leaves the metric unmeasured; one that checked nothing
    # in the reference (a cache hit ratio with the cache off) leaves only the comparison with it unmeasured
    why = stats.unmeasured_probe(metric, frames["derived"],
                                 {k: m for k, m in metas.items() if m.arm != REFERENCE}, values)
    why_reference = why or stats.unmeasured_probe(metric, frames["derived"],
                                                  {k: m for k, m in metas.items() if m.arm == REFERENCE}, values)
    per_run = values.rename("value").reset_index()
    per_run["repeat"] = per_run["run_id"].map(lambda r: metas[r].repeat)
    per_run = per_run.sort_values(["repeat", "run_id"])
    expectation = pattern.expectation(metric.name)
    claim = pattern.describe(metric.name) if sweep.reference else ""
    confidence, _ = stats.level(pattern, metric.name)
    per_value_level = 1 - (1 - confidence) / len(sweep.values)  # Bonferroni over the swept values
    limit, _ = thresholds.noise(metric)
    reference = per_run[per_run["arm"] == REFERENCE]
    counts = (stats._arm_counts(metric, frames["requests"], frames["samples"])
              if metric.source != "derived" and expectation is not None else {})
    rows = []
    for position, arm in enumerate(sweep.arms):
        value = sweep.value_of(arm)
        runs_ = per_run[per_run["arm"] == arm]
        iv = repeat_interval(runs_["value"], floor=-math.inf) if len(runs_) else Interval(math.nan, math.nan, math.nan)
        row = {"metric": metric.name, "value": value if value is not None else REFERENCE,
               "dose": math.nan if value is None else _dose(sweep, value, position), "runs": len(runs_),
               "mean": iv.estimate, "low": iv.low, "high": iv.high, "unit": metric.unit,
               "change": math.nan, "ci_low": math.nan, "ci_high": math.nan, "verdict": "", "reason": ""}
        if value is not None and expectation is not None and sweep.reference and not why_reference:
            pairs = list(reference["repeat"]) == list(runs_["repeat"])
            cmp = stats.compare_runs(reference["value"], runs_["value"], better=metric.better, noise=limit,
                                     scale=metric.scale, level=per_value_level, pairs=pairs)
            if metric.source != "derived" and not cmp.guard:  # a quantile of too few requests says nothing
                need, have = stats.min_requests(metric.quantile), counts.get(arm, 0)
                if min(have, counts.get(REFERENCE, 0)) < need:
                    cmp.guard = (f"needs at least {need} requests per arm; got {counts.get(REFERENCE, 0)} "
                                 f"(baseline) and {have}: run longer or with more users")
            verdict, reason = stats.judge(expectation, cmp, runs_["value"].to_numpy(float))
            row.update(change=cmp.change, ci_low=cmp.ci_low, ci_high=cmp.ci_high, verdict=verdict, reason=reason)
        elif value is not None and expectation is not None and sweep.reference:
            row.update(verdict="not measured", reason=why_reference)
        rows.append(row)
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    swept = per_run[per_run["arm"] != REFERENCE]
    doses = swept["arm"].map(lambda a: _dose(sweep, sweep.value_of(a), sweep.arms.index(a)))
    swept_rows = table[table["value"] != REFERENCE]
    start = holds_from(list(swept_rows["dose"]), list(swept_rows["verdict"])) if claim and not why_reference else None
    holds_value = None if start is None else str(swept_rows.loc[swept_rows["dose"] == start, "value"].iloc[0])
    return DoseResponse(pattern.id, metric.name, metric.unit, claim if expectation else "", table,
                        trend(doses, swept["value"]), holds_value, why)


def analyse(study_dir: Path) -> list[DoseResponse]:
    """Every metric of a stored sweep study (its complete, trusted, non-warm-up runs)."""
    study = results.load_study(study_dir)
    if not study.meta.sweep:
        raise results.ResultsError(f"study {Path(study_dir).name} is not a sweep (run `sentinel-lab study "
                                   "PATTERN --sweep NAME=V1,V2,…`)")
    sweep = Sweep.from_record(study.meta.sweep)
    host = next((r.machine.get("hostname") for r in study.runs if r.machine.get("hostname")), None)
    thresholds = noise_table.load(Path(study_dir).parent, host) if host else noise_table.Thresholds()
    out = []
    for pattern_id in study.meta.patterns:
        pattern = pats.get(pattern_id)
        metas = {m.run_id: m for m in study.runs if m.pattern == pattern_id and not m.warmup and not m.untrusted}

        def load(source: str) -> pd.DataFrame:
            frame = results.load_source(study_dir, source, pattern_id)
            return frame[frame["run_id"].isin(metas)] if len(frame) else frame
        frames = {s: load(s) for s in ("derived", "requests", "samples")}
        out += [dose_response(Path(study_dir), pattern, m, sweep, frames, metas, thresholds) for m in pattern.metrics]
    return out


def table(responses: list[DoseResponse]) -> pd.DataFrame:
    """Every metric's per-value rows in one long frame (what the notebook plots and ``--json`` prints)."""
    parts = [r.table.assign(pattern=r.pattern) for r in responses]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["pattern", *TABLE_COLUMNS])
