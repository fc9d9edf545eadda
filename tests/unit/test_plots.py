"""The figures state their finding, keep one colour per arm and draw intervals."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex

from analysis import plots
from analysis.stats import VERDICT_COLOURS

T0 = pd.Timestamp("2026-01-05 09:00", tz="UTC")


def _requests(shift: float = 0.6, n: int = 2000, seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two runs per arm, 10 s each, interleaved; treatment latency scaled by ``shift``."""
    rng = np.random.default_rng(seed)
    frames, runs = [], []
    for i, arm in enumerate(["baseline", "treatment", "treatment", "baseline"]):
        start = T0 + pd.Timedelta(seconds=12 * i)
        latency = rng.lognormal(np.log(20), 0.4, n) * (shift if arm == "treatment" else 1.0)
        frames.append(pd.DataFrame({"timestamp": start + pd.to_timedelta(np.sort(rng.uniform(0, 10, n)), "s"),
                                    "name": "dashboard", "response_time_ms": latency, "success": True,
                                    "run_id": f"r{i}", "arm": arm, "repeat": i // 2}))
        runs.append({"run_id": f"r{i}", "arm": arm, "start": start, "end": start + pd.Timedelta(seconds=10)})
    return pd.concat(frames, ignore_index=True), pd.DataFrame(runs)


def _row(metric="pg_statements_per_request", change=-0.5, low=-0.55, high=-0.45, verdict="holds"):
    return {"metric": metric, "change": change, "ci_low": low, "ci_high": high, "verdict": verdict,
            "reason": "", "unit": "statements/request"}


def test_latency_cdf_title_states_the_run_level_result_and_verdict_and_arms_keep_their_colours():
    requests, _ = _requests(shift=0.6)
    row = pd.Series(_row("dashboard_p95_ms", change=-0.25, low=-0.5, high=0.1, verdict="inconclusive"))
    ax = plots.latency_cdf(requests, row).axes[0]
    title = ax.get_title().replace("\n", " ")
    assert "Over runs" in title and "fell 25 %" in title and ": inconclusive" in title
    pooled = plots.latency_cdf(requests).axes[0].get_title()
    assert "%" not in pooled and "verdicts compare runs" in pooled.replace("\n", " ")
    assert "ms" in ax.get_xlabel()
    legend = {t.get_text().split()[0]: to_hex(h.get_color()) for t, h in
              zip(ax.get_legend().get_texts(), ax.get_legend().legend_handles)}
    assert legend == plots.ARM_COLOURS


def test_timeline_shades_each_run_by_its_arm_and_reports_throughput():
    requests, runs = _requests(shift=1.0)
    row = pd.Series(_row("throughput_rps", change=0.0, low=-0.04, high=0.04, verdict="holds"))
    fig = plots.timeline(requests, runs, row=row)
    top, bottom = fig.axes
    shades = [to_hex(p.get_facecolor()) for p in top.patches]
    assert shades == [plots.ARM_COLOURS[a] for a in runs["arm"]]
    assert "req/s" in top.get_ylabel() and "ms" in bottom.get_ylabel()
    assert "throughput rps did not change" in top.get_title() and "holds" in top.get_title()


def test_absolute_changes_read_in_percentage_points():
    row = {**_row("error_rate", change=0.05, low=0.04, high=0.06, verdict="refuted"), "scale": "absolute",
           "unit": "errors/request"}
    assert plots.describe_change(pd.Series(row)).startswith("error rate rose 5.0 pp")


def test_mean_ci_is_the_student_t_interval_and_widens_with_spread():
    mean, low, high = plots.mean_ci(np.array([9.0, 10.0, 11.0]))
    assert mean == 10 and high - mean == pytest.approx(4.303 * 1 / math.sqrt(3), rel=1e-3)
    assert plots.mean_ci(np.array([5.0])) == (5.0, 5.0, 5.0)
    assert all(math.isnan(x) for x in plots.mean_ci(np.array([])))


def test_arm_bars_draw_an_interval_per_arm_and_title_each_metric_with_its_change():
    per_run = pd.DataFrame({"metric": "pg_statements_per_request", "unit": "statements/request",
                            "arm": ["baseline"] * 3 + ["treatment"] * 3, "value": [3, 3.1, 2.9, 1.5, 1.6, 1.4]})
    fig = plots.arm_bars(per_run, ["pg_statements_per_request"], pd.DataFrame([_row()]))
    ax = fig.axes[0]
    assert [to_hex(b.get_facecolor()) for b in ax.patches] == list(plots.ARM_COLOURS.values())
    assert len(ax.containers) >= 2  # bar containers and error bars
    assert "\u221250 %" in ax.get_title() and ax.get_ylabel() == "statements/request"


def test_change_forest_colours_by_verdict_and_titles_with_the_finding():
    rows = pd.DataFrame([_row(), _row("throughput_rps", 0.01, -0.02, 0.04, "inconclusive"),
                         _row("stale_reads", math.nan, math.nan, math.nan, "not measured")])
    fig = plots.change_forest(rows, {"pg_statements_per_request": (-0.6, -0.4)})
    ax = fig.axes[0]
    assert ax.get_title().startswith("pg statements per request fell 50 %")
    ci_lines = [to_hex(c.get_color()[0]) for c in ax.collections if c.__class__.__name__ == "LineCollection"]
    assert ci_lines == [VERDICT_COLOURS["holds"], VERDICT_COLOURS["inconclusive"]]
    assert "%" in ax.get_xlabel()


@pytest.mark.parametrize("change,words", [(-0.42, "fell 42 %"), (0.12, "rose 12 %"), (0.001, "did not change")])
def test_describe_change_says_which_way_and_how_much(change, words):
    assert words in plots.describe_change(pd.Series(_row(change=change)))
