"""The notebook API's own logic: which statements count, the shared study defaults, the load figures."""
from __future__ import annotations

import pandas as pd

from analysis import lab, load_plots
from analysis.experiment import (DEFAULT_DURATION_S, DEFAULT_WARMUP_S, QUICK_DURATION_S, QUICK_WARMUP_S,
                                 study_config)
from analysis.repeats import DEFAULT_REPEATS, QUICK_REPEATS


def _statements(rows):
    return pd.DataFrame([{"timestamp": pd.Timestamp("2026-01-01", tz="UTC"), "metric": m, "value": v,
                          "queryid": q, "query": q, "database": "sentinel", "user": u}
                         for q, u, calls, ms in rows for m, v in (("calls", calls), ("total_exec_time_ms", ms))])


def test_pg_top_ranks_the_applications_statements_and_leaves_the_labs_own_out():
    frame = _statements([("SELECT a", "sentinel", 10, 5.0), ("SELECT b", "sentinel", 2, 50.0),
                         ("SELECT pg_database", "lab_monitor", 100, 500.0)])
    top = lab.pg_top(frame, 5, user="sentinel")
    assert list(top["query"]) == ["SELECT b", "SELECT a"]
    assert list(lab.pg_top(frame, 1, user="")["query"]) == ["SELECT pg_database"]


def test_quick_settings_are_the_defaults_an_explicit_value_overrides():
    quick = study_config(["aa"], quick=True)
    assert (quick.repeats, quick.duration_s, quick.warmup_s) == (QUICK_REPEATS, QUICK_DURATION_S, QUICK_WARMUP_S)
    full = study_config(["aa"])
    assert (full.repeats, full.duration_s, full.warmup_s) == (DEFAULT_REPEATS, DEFAULT_DURATION_S, DEFAULT_WARMUP_S)
    mine = study_config(["aa"], repeats=2, duration_s=3, warmup_s=0, quick=True)
    assert (mine.repeats, mine.duration_s, mine.warmup_s) == (2, 3, 0)


def test_the_locust_and_prometheus_figure_draws_both_sides_and_counts_only_4xx_5xx_as_errors():
    t = pd.date_range("2026-01-01", periods=5, freq="s", tz="UTC")
    history = pd.DataFrame({"timestamp": t, "name": "Aggregated", "rps": 10.0, "p50_ms": 5.0, "p95_ms": 9.0,
                            "failures_per_s": 0.0})
    prom = pd.concat([pd.DataFrame({"timestamp": t, "metric": "request_rate_by_status", "value": 8.0, "status": "200"}),
                      pd.DataFrame({"timestamp": t, "metric": "request_rate_by_status", "value": 2.0, "status": "503"}),
                      pd.DataFrame({"timestamp": t, "metric": "latency_p95_s", "value": 0.01})])
    fig = load_plots.locust_vs_prometheus(history, prom, t[0])
    axes = fig.axes
    assert all(ax.lines for ax in axes), "an empty panel"
    served, errors = axes[1].lines[0].get_ydata(), axes[5].lines[0].get_ydata()
    assert list(served) == [10.0] * 5 and list(errors) == [2.0] * 5


def test_patterns_given_as_papermill_passes_them_become_ids():
    assert lab.pattern_ids('["redis-cache", "aa"]') == ["redis-cache", "aa"]
    assert lab.pattern_ids("redis-cache, aa") == ["redis-cache", "aa"]
    assert lab.pattern_ids("redis-cache") == ["redis-cache"]
