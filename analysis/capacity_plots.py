"""The figures of the capacity notebook (``notebooks/30_capacity``): throughput and p95 against the
offered load per arm with the fitted USL curve, the SLO line, the knee and the maximum sustainable
throughput; the services' CPU per level; and a sweep's metrics against the swept value.

Like ``plots``, each function takes plain data and returns a matplotlib ``Figure`` built without pyplot.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from analysis.capacity import SATURATED_CPU, CapacitySummary, UslFit, saturation_finding
from analysis.plots import ARM_COLOURS, VERDICT_COLOURS
from analysis.sweep import REFERENCE, DoseResponse


def _fit(summary: CapacitySummary) -> UslFit | None:
    u = summary.usl
    if not u or not all(k in u for k in ("gamma", "alpha", "beta")):
        return None
    return UslFit(u["gamma"].estimate, u["alpha"].estimate, u["beta"].estimate, summary.usl_r2, len(summary.table))


def capacity_curves(summaries: list[CapacitySummary], open_loop: bool = False) -> Figure:
    """Left: throughput per level (mean with its 95 % interval over runs) and the fitted USL curve, the
    knee (USL peak N*) and the maximum sustainable throughput with its interval. Right: p95 per level
    against the SLO line. Levels where the load generator saturated are drawn hollow."""
    fig = Figure(figsize=(12, 4.8))
    left, right = fig.subplots(1, 2)
    top = max((float(s.table["concurrency"].max()) for s in summaries if len(s.table)), default=1.0)
    for s in summaries:
        colour = ARM_COLOURS.get(s.arm, "#555555")
        t = s.table.sort_values("level")
        x = t["concurrency"].to_numpy(float)
        err = np.vstack([t["throughput_rps"] - t["throughput_low"], t["throughput_high"] - t["throughput_rps"]])
        saturated = t["generator_saturated_runs"].to_numpy() > 0
        left.errorbar(x, t["throughput_rps"], yerr=np.clip(np.nan_to_num(err), 0, None), fmt="none",
                      ecolor=colour, alpha=0.6, capsize=3)
        left.scatter(x[~saturated], t["throughput_rps"].to_numpy()[~saturated], color=colour, zorder=3,
                     label=f"{s.arm}: measured")
        if saturated.any():
            left.scatter(x[saturated], t["throughput_rps"].to_numpy()[saturated], facecolors="none",
                         edgecolors=colour, zorder=3, label=f"{s.arm}: generator saturated")
        fit = _fit(s)
        if fit is not None:
            grid = np.linspace(1, top * 1.5, 200)
            left.plot(grid, fit.predict(grid), color=colour, lw=1.5,
                      label=f"{s.arm}: USL fit (R² {fit.r2:.2f})")
            if math.isfinite(fit.peak_n) and fit.peak_n <= top * 1.5:
                left.axvline(fit.peak_n, color=colour, ls=":", lw=1.2)
                left.annotate(f"knee N* {fit.peak_n:.0f}", (fit.peak_n, fit.peak_throughput), color=colour,
                              textcoords="offset points", xytext=(4, 6), fontsize=8)
        m = s.max_sustainable
        if math.isfinite(m.estimate):
            left.axhline(m.estimate, color=colour, ls="--", lw=1)
            if math.isfinite(m.low) and math.isfinite(m.high):
                left.axhspan(m.low, m.high, color=colour, alpha=0.08)
            left.annotate(f"max sustainable {m.estimate:.1f} req/s [{m.low:.1f}, {m.high:.1f}]",
                          (x.min() if len(x) else 1, m.estimate), color=colour, textcoords="offset points",
                          xytext=(0, 4), fontsize=8)
        right.plot(t["level"], t["p95_ms"], "o-", color=colour, label=s.arm)
    slo = summaries[0].slo if summaries else None
    if slo is not None:
        right.axhline(slo.p95_ms, color="#d55e00", ls="--", lw=1.2, label=f"SLO p95 {slo.p95_ms:g} ms")
    left.set_xlabel("concurrency (users; open loop: throughput × latency)")
    left.set_ylabel("throughput (req/s)")
    left.legend(fontsize=7, loc="lower right")
    right.set_xlabel("arrivals per second" if open_loop else "users")
    right.set_ylabel("p95 latency (ms)" + (" from the intended start" if open_loop else ""))
    right.set_yscale("log")
    right.legend(fontsize=8)
    head = "; ".join(f"{s.arm}: {s.max_sustainable.estimate:.1f} req/s at the SLO" for s in summaries)
    fig.suptitle(f"Throughput and p95 against offered load ({head})", fontsize=10)
    fig.tight_layout()
    return fig


def service_cpu(load: pd.DataFrame, arm: str) -> Figure:
    """CPU of each service per load level (one line per service, the five busiest labelled): which
    service runs out first (the title says)."""
    fig = Figure(figsize=(8, 4.2))
    ax = fig.subplots()
    if len(load):
        order = load.groupby("service")["cpu_percent"].max().sort_values(ascending=False)
        for i, service in enumerate(order.index):
            rows = load[load["service"] == service].sort_values("level")
            ax.plot(rows["level"], rows["cpu_percent"], "o-" if i < 5 else "-", lw=2 if i < 5 else 0.8,
                    alpha=1 if i < 5 else 0.5, label=service if i < 5 else None)
        ax.legend(fontsize=8)
    ax.axhline(SATURATED_CPU, color="#999999", ls=":", lw=1)
    ax.set_xlabel("load level")
    ax.set_ylabel("CPU (% of one core)")
    ax.set_title(f"{arm}: {saturation_finding(load)}", fontsize=10)
    fig.tight_layout()
    return fig


def sweep_panels(responses: list[DoseResponse], metrics: list[str] | None = None) -> Figure:
    """One panel per metric: its mean over runs with a 95 % interval at each swept value, the baseline
    as a band, each value's claim verdict as the marker's colour; the title states the trend."""
    chosen = [r for r in responses if (metrics is None or r.metric in metrics) and not r.not_measured
              and r.table["mean"].notna().any()]
    cols = min(3, max(1, len(chosen)))
    rows = max(1, math.ceil(len(chosen) / cols))
    fig = Figure(figsize=(4.2 * cols, 3.4 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax, r in zip(axes, chosen):
        t = r.table
        ref = t[t["value"] == REFERENCE]
        swept = t[t["value"] != REFERENCE]
        x = np.arange(len(swept))
        if len(ref) and math.isfinite(ref["mean"].iloc[0]):
            ax.axhline(ref["mean"].iloc[0], color=ARM_COLOURS["baseline"], lw=1, label="baseline")
            if math.isfinite(ref["low"].iloc[0]):
                ax.axhspan(ref["low"].iloc[0], ref["high"].iloc[0], color=ARM_COLOURS["baseline"], alpha=0.12)
        err = np.vstack([swept["mean"] - swept["low"], swept["high"] - swept["mean"]])
        ax.errorbar(x, swept["mean"], yerr=np.clip(np.nan_to_num(err), 0, None), fmt="-",
                    color=ARM_COLOURS["treatment"], capsize=3)
        colours = [VERDICT_COLOURS.get(v, ARM_COLOURS["treatment"]) for v in swept["verdict"]]
        ax.scatter(x, swept["mean"], c=colours, zorder=3, s=40)
        ax.set_xticks(x, [str(v) for v in swept["value"]])
        ax.set_ylabel(r.unit)
        trend = (f"ρ {r.trend.rho:+.2f}, p {r.trend.p_value:.2g}" if math.isfinite(r.trend.rho) else "no trend test")
        held = f"; holds from {r.holds_from}" if r.holds_from else ("; holds nowhere" if r.claim else "")
        ax.set_title(f"{r.metric}\n{trend}{held}", fontsize=9)
    for ax in axes[len(chosen):]:
        ax.axis("off")
    if not chosen:
        axes[0].text(0.5, 0.5, "no metric was measured at the swept values", ha="center", va="center")
    fig.tight_layout()
    return fig
