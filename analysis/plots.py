"""The figures the notebooks show, one function per figure.

Every figure takes plain DataFrames (the results store's frames and
``stats.compare_study`` rows) and returns a matplotlib ``Figure`` whose title
states the finding. Baseline and treatment have one colour each, here, for
every figure of every report. Figures are built without pyplot, so nothing
piles up in global state; a notebook shows one by ending a cell with it.
"""
from __future__ import annotations

import math
import textwrap

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from scipy import stats as sps

from analysis.stats import VERDICT_COLOURS, format_change, percent

#: Okabe-Ito colours: distinguishable with every common colour-vision deficiency.
ARM_COLOURS = {"baseline": "#0072b2", "treatment": "#e69f00"}
ARMS = ("baseline", "treatment")


def change_text(row, value: float) -> str:
    """``value`` (a change of ``row``'s metric) on the row's scale: ``−12 %`` relative, ``+5.0 pp`` or
    ``+3 requests`` absolute."""
    scale = row.get("scale") if isinstance(row.get("scale"), str) else "relative"
    if scale == "relative":
        return percent(value, 0, "\u2212")
    return format_change(value, scale, str(row.get("unit") or "")).replace("-", "\u2212")


def describe_change(row: pd.Series, with_verdict: bool = True) -> str:
    """One sentence for one comparison row: what changed over runs, by how much, and the verdict."""
    metric = str(row["metric"]).replace("_", " ")
    if row.get("verdict") == "not measured" or not np.isfinite(row.get("change", np.nan)):
        why = row.get("reason") if isinstance(row.get("reason"), str) and row.get("reason") else "no data"
        return f"{metric}: {row.get('verdict') or 'not measured'} ({why})"
    level = "95 %" if row.get("role") != "secondary" else "corrected"
    ci = f"{level} CI {change_text(row, row['ci_low'])} … {change_text(row, row['ci_high'])}"
    verdict = f": {row.get('verdict') or 'context, no claim'}" if with_verdict else ""
    if abs(row["change"]) < 0.005:
        return f"{metric} did not change ({ci}){verdict}"
    word = "rose" if row["change"] > 0 else "fell"
    return f"{metric} {word} {change_text(row, abs(row['change'])).lstrip('+')} ({ci}){verdict}"


def _wrap(title: str, width: int = 90) -> str:
    return "\n".join(textwrap.wrap(title, width))


def _finite(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    return frame[np.isfinite(pd.to_numeric(frame[column], errors="coerce"))]


def latency_cdf(requests: pd.DataFrame, row: pd.Series | None = None) -> Figure:
    """Per-request latency CDF per arm: each repeat thin, the pooled arm bold, p50/p95/p99 marked.

    The title states ``row``'s run-level result (the p95 comparison the verdict table shows); the
    pooled curves are description only."""
    fig = Figure(figsize=(8, 4.5))
    ax = fig.subplots()
    pooled: dict[str, np.ndarray] = {}
    for arm in ARMS:
        rows = _finite(requests[requests["arm"] == arm], "response_time_ms")
        for _, run in rows.groupby("run_id"):
            x = np.sort(run["response_time_ms"].to_numpy(float))
            ax.plot(x, np.arange(1, len(x) + 1) / len(x), color=ARM_COLOURS[arm], alpha=0.3, lw=0.8)
        x = np.sort(rows["response_time_ms"].to_numpy(float))
        if len(x) == 0:
            continue
        pooled[arm] = x
        ax.plot(x, np.arange(1, len(x) + 1) / len(x), color=ARM_COLOURS[arm], lw=2,
                label=f"{arm} ({len(x):,} requests)")
        for q in (0.5, 0.95, 0.99):
            ax.plot(np.quantile(x, q), q, "o", color=ARM_COLOURS[arm], ms=5)
    ax.set_xscale("log")
    ax.set_xlabel("response time (ms, log scale)")
    ax.set_ylabel("share of requests at or below")
    ax.set_yticks([0, 0.25, 0.5, 0.75, 0.95, 1])
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(_wrap(_latency_finding(pooled, row)), fontsize=10)
    fig.tight_layout()
    return fig


def _latency_finding(pooled: dict[str, np.ndarray], row: pd.Series | None) -> str:
    if len(pooled) < 2:
        return "Latency: only one arm has requests, nothing to compare"
    if row is None:
        return "Latency per request, pooled per arm: a description; the verdicts compare runs"
    return f"Over runs, {describe_change(row)} (curves pool every request, for description)"


def timeline(requests: pd.DataFrame, runs: pd.DataFrame, bin_s: int = 5, row: pd.Series | None = None) -> Figure:
    """Throughput and p95 latency over the study's wall-clock time, each run shaded by its arm.

    Bins start at each run's start and partial bins are dropped, so run edges do not look like dips.
    The title states ``row``'s run-level result (the throughput comparison) when given.
    """
    fig = Figure(figsize=(9, 5))
    top, bottom = fig.subplots(2, 1, sharex=True)
    origin = runs["start"].min()
    rps: dict[str, list[float]] = {}
    for run in runs.itertuples():
        start, end = ((t - origin).total_seconds() for t in (run.start, run.end))
        for ax in (top, bottom):
            ax.axvspan(start, end, color=ARM_COLOURS[run.arm], alpha=0.12, lw=0)
        rows = requests[requests["run_id"] == run.run_id]
        since = (pd.to_datetime(rows["timestamp"], utc=True) - run.start).dt.total_seconds()
        full = since < (end - start) // bin_s * bin_s
        per_bin = rows[full].groupby((since[full] // bin_s).astype(int))["response_time_ms"]
        if not len(rows[full]):
            continue
        x = start + (per_bin.size().index.to_numpy() + 0.5) * bin_s
        throughput = per_bin.size().to_numpy() / bin_s
        rps.setdefault(run.arm, []).append(float(throughput.mean()))
        top.plot(x, throughput, color=ARM_COLOURS[run.arm], lw=1.5, marker=".")
        bottom.plot(x, per_bin.quantile(0.95).to_numpy(), color=ARM_COLOURS[run.arm], lw=1.5, marker=".")
    top.set_ylabel("throughput (req/s)")
    bottom.set_ylabel("p95 latency (ms)")
    bottom.set_xlabel(f"time since the first run started (s), {bin_s} s bins")
    top.legend(handles=[Patch(color=ARM_COLOURS[a], alpha=0.4, label=a) for a in ARMS], loc="lower right")
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
        ax.set_ylim(bottom=0)
    if len(rps) < 2:
        top.set_title("Throughput and latency over time: only one arm has requests")
    elif row is not None:
        top.set_title(_wrap(f"Over runs, {describe_change(row)}"), fontsize=10)
    else:
        top.set_title("Throughput and latency over time, per arm")
    fig.tight_layout()
    return fig


def mean_ci(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t interval of per-repeat values (a single value has no interval)."""
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return (math.nan, math.nan, math.nan)
    mean = float(values.mean())
    if len(values) < 2 or values.std(ddof=1) == 0:
        return (mean, mean, mean)
    half = sps.t.ppf(0.5 + confidence / 2, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values))
    return (mean, mean - half, mean + half)


def arm_bars(derived: pd.DataFrame, metrics: list[str], comparison: pd.DataFrame | None = None) -> Figure:
    """Before/after bars per metric: the mean of the repeats with its 95 % CI, each repeat a dot."""
    metrics = [m for m in metrics if m in set(derived["metric"])]
    cols = min(3, max(1, len(metrics)))
    rows_n = math.ceil(len(metrics) / cols) if metrics else 1
    fig = Figure(figsize=(3.6 * cols, 3.2 * rows_n))
    axes = fig.subplots(rows_n, cols, squeeze=False)
    by_metric = {} if comparison is None else {r["metric"]: r for _, r in comparison.iterrows()}
    for ax, metric in zip(axes.flat, metrics):
        rows = derived[derived["metric"] == metric]
        unit = str(rows["unit"].dropna().iloc[0]) if "unit" in rows and rows["unit"].notna().any() else ""
        for i, arm in enumerate(ARMS):
            values = rows.loc[rows["arm"] == arm, "value"].to_numpy(float)
            mean, low, high = mean_ci(values)
            if not np.isfinite(mean):
                continue
            ax.bar(i, mean, color=ARM_COLOURS[arm], alpha=0.8, width=0.6)
            ax.errorbar(i, mean, yerr=[[mean - low], [high - mean]], color="black", capsize=6, lw=1.5)
            ax.plot(np.full(len(values), i) + np.linspace(-0.12, 0.12, len(values)), values, "o",
                    mfc="white", mec="black", ms=4)
        ax.set_xticks([0, 1], ARMS)
        ax.set_ylabel(unit or "value")
        row = by_metric.get(metric)
        change = "" if row is None or not np.isfinite(row["change"]) else (
            f"\n{change_text(row, row['change'])} [{change_text(row, row['ci_low'])}, "
            f"{change_text(row, row['ci_high'])}]: {row['verdict'] or 'context'}")
        ax.set_title(f"{metric.replace('_', ' ')}{change}", fontsize=10)
        ax.grid(True, axis="y", alpha=0.3)
    for ax in list(axes.flat)[len(metrics):]:
        ax.set_visible(False)
    fig.suptitle("Baseline vs treatment per metric: mean of repeats with 95 % CI, dots are repeats")
    fig.tight_layout()
    return fig


def change_forest(comparison: pd.DataFrame, bands: dict[str, tuple[float | None, float | None]] | None = None,
                  title: str | None = None) -> Figure:
    """Each metric's relative change with its 95 % CI, coloured by verdict, over its claimed range.

    ``bands`` maps a metric to the claimed change as fractions ``(low, high)``; None is open-ended.
    """
    rows = comparison.reset_index(drop=True)
    bands = bands or {}
    fig = Figure(figsize=(8, 0.55 * len(rows) + 1.8))
    ax = fig.subplots()
    ax.axvline(0, color="black", lw=0.8)
    for i, row in rows.iterrows():
        colour = VERDICT_COLOURS.get(row["verdict"], "#333333")
        if row["metric"] in bands:
            low, high = bands[row["metric"]]
            ax.fill_betweenx([i - 0.35, i + 0.35], -1e4 if low is None else low * 100,
                             1e4 if high is None else high * 100, color="#009e73", alpha=0.12, lw=0)
        if not np.isfinite(row.get("change", np.nan)):
            ax.text(0, i, f"  {row['verdict']}", va="center", color="#555555", fontsize=9)
            continue
        low, high = row["ci_low"] * 100, row["ci_high"] * 100
        if np.isfinite(low) and np.isfinite(high):
            ax.hlines(i, low, high, color=colour, lw=3)
        ax.plot(row["change"] * 100, i, "o", color=colour, ms=8)
        ax.annotate(f"{change_text(row, row['change'])} ({row['verdict']})", (row["change"] * 100, i),
                    xytext=(0, 8), textcoords="offset points", ha="center", fontsize=8)
    finite = pd.concat([rows[c] for c in ("change", "ci_low", "ci_high")]).astype(float) * 100
    finite = finite[np.isfinite(finite)]
    span = max(10.0, float(finite.abs().max()) * 1.25) if len(finite) else 10.0
    ax.set_xlim(-span, span)
    ax.set_yticks(range(len(rows)), [str(m).replace("_", " ") for m in rows["metric"]])
    ax.set_ylim(len(rows) - 0.5, -0.9)
    ax.set_xlabel("change over runs, treatment vs baseline (% or percentage points), line: CI, shade: claimed range")
    ax.grid(True, axis="x", alpha=0.3)
    ax.set_title(_wrap(title or (describe_change(rows.iloc[0]) if len(rows) else "No comparison rows")),
                 fontsize=10)
    fig.tight_layout()
    return fig
