"""The figures of one load run (``notebooks/02_load_test``): what Locust measured beside what the
servers' Prometheus saw over the same window, and Redis's command mix.

Like ``plots``, each function takes tidy frames and returns a matplotlib ``Figure`` built without pyplot.
"""
from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

LOCUST_COLOUR, PROMETHEUS_COLOUR = "#0072b2", "#d55e00"  # Okabe-Ito, as in plots.py


def _seconds(timestamps: pd.Series, origin: pd.Timestamp) -> pd.Series:
    return (pd.to_datetime(timestamps, utc=True) - origin).dt.total_seconds()


def _errors(rate_by_status: pd.DataFrame) -> pd.DataFrame:
    """Responses with a 4xx or 5xx status (``"500"`` or ``"5xx"``) per second."""
    status = rate_by_status["status"].astype(str).str[0]
    return rate_by_status[status.isin(["4", "5"])]


def locust_vs_prometheus(history: pd.DataFrame, prometheus: pd.DataFrame, start: pd.Timestamp) -> Figure:
    """Throughput, latency percentiles and errors over time: Locust's per-second history (left),
    Prometheus's request rate, latency quantiles and 4xx/5xx rate for the API (right)."""
    fig = Figure(figsize=(11, 8))
    axes = fig.subplots(3, 2, sharex=True)
    origin = pd.Timestamp(start)
    agg = history[history["name"] == "Aggregated"] if len(history) else history
    by_metric = {m: f for m, f in prometheus.groupby("metric")} if len(prometheus) else {}
    if len(agg):
        x = _seconds(agg["timestamp"], origin)
        axes[0, 0].plot(x, agg["rps"], color=LOCUST_COLOUR)
        for column, style in (("p50_ms", "-"), ("p95_ms", "--")):
            axes[1, 0].plot(x, agg[column], style, color=LOCUST_COLOUR, label=column.split("_")[0])
        axes[2, 0].plot(x, agg["failures_per_s"], color=LOCUST_COLOUR)
    rate = by_metric.get("request_rate_by_status")
    if rate is not None:
        total = rate.groupby("timestamp")["value"].sum()
        axes[0, 1].plot(_seconds(total.index.to_series(), origin), total.to_numpy(), color=PROMETHEUS_COLOUR)
        errors = _errors(rate).groupby("timestamp")["value"].sum() if "status" in rate else pd.Series(dtype=float)
        errors = errors.reindex(total.index, fill_value=0.0)
        axes[2, 1].plot(_seconds(errors.index.to_series(), origin), errors.to_numpy(), color=PROMETHEUS_COLOUR)
    for name, style in (("latency_p50_s", "-"), ("latency_p95_s", "--")):
        series = by_metric.get(name)
        if series is not None:
            axes[1, 1].plot(_seconds(series["timestamp"], origin), series["value"] * 1000, style,
                            color=PROMETHEUS_COLOUR, label=name.split("_")[1])
    titles = (("requests per second", "Locust: requests sent"), ("Prometheus: requests served", None),
              ("latency (ms)", "Locust: response time"), ("Prometheus: request duration", None),
              ("errors per second", "Locust: failures"), ("Prometheus: 4xx/5xx responses", None))
    for ax, (label, title) in zip(axes.flat, titles):
        ax.set_title(title or label, fontsize=10)
        if title:
            ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.set_ylim(bottom=0)
    for ax in axes[1]:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper right", fontsize=8)
    for ax in axes[2]:
        ax.set_xlabel("seconds since the run started")
    fig.suptitle("What the load generator measured (left) and what the server reported (right)")
    fig.tight_layout()
    return fig


def redis_commands(changes: pd.DataFrame, seconds: float, top: int = 12) -> Figure:
    """Redis commands per second during the run, the ``top`` busiest (from ``collect.redis.changes``)."""
    calls = changes[changes["metric"] == "command_calls"] if len(changes) else changes
    rates = (calls.groupby("command")["value"].sum() / max(seconds, 1e-9)).sort_values().tail(top) \
        if len(calls) else pd.Series(dtype=float)
    fig = Figure(figsize=(8, 0.35 * max(len(rates), 3) + 1.2))
    ax = fig.subplots()
    ax.barh(rates.index.astype(str), rates.to_numpy(), color=LOCUST_COLOUR)
    ax.set_xlabel("commands per second")
    ax.grid(True, axis="x", alpha=0.3)
    ax.set_title(f"Redis: {rates.sum():.0f} commands/s in the {len(rates)} busiest commands" if len(rates)
                 else "Redis: no command ran during the run")
    fig.tight_layout()
    return fig


def panels(tidy: pd.DataFrame, start: pd.Timestamp) -> Figure:
    """One panel per ``metric`` of a tidy frame (label series summed), over seconds since ``start``."""
    names = sorted(tidy["metric"].unique())
    fig = Figure(figsize=(9, 1.9 * max(len(names), 1) + 0.6))
    axes = fig.subplots(max(len(names), 1), 1, sharex=True, squeeze=False)[:, 0]
    for ax, name in zip(axes, names):
        series = tidy[tidy["metric"] == name].groupby("timestamp")["value"].sum()
        ax.plot(_seconds(series.index.to_series(), pd.Timestamp(start)), series.to_numpy(), color=PROMETHEUS_COLOUR)
        ax.set_title(name.replace("_", " "), fontsize=10)
        ax.grid(True, alpha=0.3)
    axes[-1].set_xlabel("seconds since the run started")
    fig.tight_layout()
    return fig
