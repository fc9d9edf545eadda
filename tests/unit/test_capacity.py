"""Capacity arithmetic: the USL fit against R's usl package, levels from a run, the SLO maximum."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis import capacity

# R package `usl`, dataset specsdm91 (Gunther, Guerrilla Capacity Planning): its test expects the peak at 96.51956
SPECSDM91_N = [1, 18, 36, 72, 108, 144, 216]
SPECSDM91_X = [64.9, 995.9, 1652.4, 1853.2, 1828.9, 1775.0, 1702.2]


def test_the_usl_fit_of_specsdm91_reproduces_the_r_packages_peak():
    fit = capacity.fit_usl(SPECSDM91_N, SPECSDM91_X)
    assert fit.peak_n == pytest.approx(96.52, abs=0.01)
    assert fit.gamma == pytest.approx(89.995, abs=0.01)
    assert fit.alpha == pytest.approx(0.027728, abs=1e-5) and fit.beta == pytest.approx(0.00010437, abs=1e-7)
    assert fit.r2 == pytest.approx(0.9896, abs=1e-3)


def test_a_linear_system_has_no_peak_and_its_ceiling_is_gamma_over_alpha():
    n = np.array([1, 2, 4, 8, 16, 32])
    x = capacity.usl(n, 10.0, 0.05, 0.0)
    fit = capacity.fit_usl(n, x)
    assert math.isinf(fit.peak_n) or fit.peak_n > 1000
    assert fit.peak_throughput == pytest.approx(10.0 / 0.05, rel=0.05)


def test_bootstrap_intervals_cover_the_point_estimate():
    rng = np.random.default_rng(3)
    n = np.repeat(SPECSDM91_N, 3)
    x = capacity.usl(n.astype(float), 89.995, 0.027728, 0.00010437) * rng.normal(1, 0.02, len(n))
    intervals = capacity.bootstrap_usl(n, x, resamples=200)
    peak = intervals["peak_n"]
    assert peak.low <= peak.estimate <= peak.high and peak.low < 96.52 < peak.high


def test_too_few_levels_is_an_error_that_says_so():
    with pytest.raises(ValueError, match="at least 3 distinct load levels"):
        capacity.fit_usl([1, 2, 2], [1, 2, 2])


def _run(levels_rps: list[tuple[int, float, float]], seconds: float = 10.0):
    """Requests for a staircase: (users, throughput, latency ms) per level, one second of ramp each."""
    t0 = pd.Timestamp("2026-12-01T00:00:00Z")
    stages, requests = [], []
    for i, (users, rps, ms) in enumerate(levels_rps):
        start = t0 + pd.Timedelta(seconds=i * seconds)
        stages.append({"start": start, "end": start + pd.Timedelta(seconds=seconds), "users": users})
        for k in range(int(rps * seconds)):
            requests.append({"timestamp": start + pd.Timedelta(seconds=k / rps), "response_time_ms": ms,
                             "success": True})
    return pd.DataFrame(requests), pd.DataFrame(stages)


def test_levels_leave_the_ramp_out_and_the_slo_picks_the_highest_sustainable_level():
    requests, stages = _run([(10, 50, 20), (20, 90, 60), (40, 120, 400)])
    table = capacity.levels(requests, stages, settle_s=2)
    assert list(table["level"]) == [10, 20, 40]
    assert table["throughput_rps"].tolist() == pytest.approx([50, 90, 120], rel=0.03)
    assert capacity.max_sustainable(table, capacity.Slo(p95_ms=250)) == pytest.approx(90, rel=0.03)
    assert capacity.max_sustainable(table, capacity.Slo(p95_ms=10)) == 0.0


def test_a_level_where_the_generator_saturated_never_counts_as_sustainable():
    requests, stages = _run([(10, 50, 20), (20, 90, 60), (40, 120, 100)])
    t0 = stages["start"].iloc[2]
    cpu = pd.DataFrame({"timestamp": [t0 + pd.Timedelta(seconds=s) for s in range(2, 10)], "cpu_percent": 95.0})
    table = capacity.levels(requests, stages, settle_s=2, generator_cpu=cpu)
    assert table["generator_saturated"].tolist() == [False, False, True]
    assert capacity.max_sustainable(table) == pytest.approx(90, rel=0.03)


def test_repeat_interval_is_over_runs():
    iv = capacity.repeat_interval([100, 104, 96, 100])
    assert iv.low < 100 < iv.high and iv.estimate == pytest.approx(100)
