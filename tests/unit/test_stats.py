"""Statistics on synthetic samples whose true effect is known."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from analysis import stats
from analysis.patterns import Expectation


def test_a_20_percent_drop_over_repeats_is_detected_as_an_improvement():
    rng = np.random.default_rng(7)
    baseline = rng.normal(10.0, 0.3, 5)
    treatment = rng.normal(8.0, 0.3, 5)
    cmp = stats.compare_runs(baseline, treatment, better="lower")
    assert cmp.significant and cmp.direction == "improvement"
    assert cmp.ci_low < -0.20 < cmp.ci_high or abs(cmp.change + 0.20) < 0.05
    assert cmp.ci_high < -0.10


def test_a_20_percent_slower_p95_is_detected_as_a_regression_with_an_interval():
    rng = np.random.default_rng(11)
    baseline = rng.lognormal(3.0, 0.5, 5000)
    treatment = rng.lognormal(3.0, 0.5, 5000) * 1.2
    cmp = stats.compare_latency(baseline, treatment, quantile=0.95, better="lower")
    assert cmp.significant and cmp.direction == "regression"
    assert cmp.ci_low < 0.20 < cmp.ci_high


def test_mann_whitney_flags_identical_distributions_at_about_the_nominal_rate():
    rng = np.random.default_rng(2024)
    trials = 2000
    a, b = rng.lognormal(3.0, 0.5, (2, trials, 40))
    p = sps.mannwhitneyu(a, b, axis=1).pvalue
    rate = float(np.mean(p < stats.ALPHA))
    assert 0.035 < rate < 0.065, rate


def test_identical_arms_are_called_significant_no_more_often_than_the_nominal_rate():
    rng = np.random.default_rng(5)
    flagged = [stats.compare_runs(*rng.normal(100.0, 3.0, (2, 6)), better="lower").significant
               for _ in range(200)]
    assert np.mean(flagged) <= stats.ALPHA
    flagged = [stats.compare_latency(*rng.lognormal(3.0, 0.5, (2, 600)), quantile=0.5).significant
               for _ in range(40)]
    assert np.mean(flagged) <= 2 * stats.ALPHA


def test_a_tiny_but_consistent_drift_is_not_called_a_change():
    rng = np.random.default_rng(3)
    baseline = rng.normal(100.0, 0.1, 8)
    treatment = rng.normal(101.0, 0.1, 8)  # +1 %: real, but inside the ±2 % noise threshold
    cmp = stats.compare_runs(baseline, treatment)
    assert cmp.p_value < stats.ALPHA
    assert not cmp.significant and cmp.direction == "no change"
    tight = stats.compare_runs(baseline, treatment, noise=0.005)
    assert tight.significant


@pytest.mark.parametrize("better,label", [("lower", "regression"), ("higher", "improvement"), ("none", "increase")])
def test_each_metric_knows_which_direction_is_better(better, label):
    cmp = stats.compare_runs([100, 101, 99, 100], [112, 113, 111, 112], better=better)
    assert cmp.direction == label


def test_three_runs_per_arm_cannot_be_significant_and_say_why():
    cmp = stats.compare_runs([10, 10.2, 10.1], [5, 5.1, 5.2])
    assert not cmp.significant
    assert "at least 4 repeats" in cmp.guard
    assert stats.judge(Expectation("x", "decrease", -0.6, -0.4), cmp)[0] == "inconclusive"


def test_p99_from_under_a_thousand_requests_is_inconclusive():
    rng = np.random.default_rng(1)
    cmp = stats.compare_latency(rng.lognormal(3, 0.5, 900), rng.lognormal(3, 0.5, 5000) * 2, quantile=0.99)
    assert np.isnan(cmp.ci_low) and not cmp.significant
    verdict, reason = stats.judge(Expectation("p99_ms", "no_regression"), cmp)
    assert verdict == "inconclusive" and "1000 requests" in reason
    assert stats.compare_latency(rng.lognormal(3, 0.5, 900), rng.lognormal(3, 0.5, 900), quantile=0.5).guard is None


def test_zero_heavy_rates_compare_without_a_confident_number_when_the_baseline_is_zero():
    cmp = stats.compare_runs([0.0, 0.0, 0.0, 0.0], [0.0, 0.001, 0.0, 0.0])
    assert not cmp.significant and "baseline is 0" in cmp.guard
    both_zero = stats.compare_runs([0.0] * 4, [0.0] * 4)
    assert both_zero.change == 0.0 and both_zero.guard is None and not both_zero.significant


def _cmp(change, low, high, p=0.001, significant=True, better="lower"):
    return stats.Comparison(1.0, 1.0 + change, change, low, high, p, significant, better=better)


@pytest.mark.parametrize("cmp,verdict", [
    (_cmp(-0.50, -0.55, -0.45), "holds"),               # inside the claimed range
    (_cmp(-0.80, -0.85, -0.75), "holds"),               # beyond it, same direction
    (_cmp(-0.10, -0.15, -0.05), "refuted"),             # real drop, far short of the claim
    (_cmp(0.0, -0.01, 0.01, p=0.8, significant=False), "refuted"),  # no change at all
    (_cmp(-0.42, -0.50, -0.30), "inconclusive"),        # straddles −40 %
    (_cmp(-0.50, -0.55, -0.45, p=0.2, significant=False), "inconclusive"),
])
def test_verdict_on_a_claimed_decrease(cmp, verdict):
    assert stats.judge(Expectation("m", "decrease", -0.60, -0.40), cmp)[0] == verdict


def test_verdicts_on_increase_bound_zero_and_no_change_claims():
    increase = Expectation("hit", "increase", 0.20, 0.30)
    assert stats.judge(increase, _cmp(0.35, 0.25, 0.45, better="higher"))[0] == "holds"
    assert stats.judge(increase, _cmp(0.05, 0.02, 0.10, better="higher"))[0] == "refuted"
    overhead = Expectation("p95", "at_most", high=0.05)
    assert stats.judge(overhead, _cmp(0.01, -0.02, 0.03, p=0.5, significant=False))[0] == "holds"
    assert stats.judge(overhead, _cmp(0.20, 0.10, 0.30))[0] == "refuted"
    zero = Expectation("stale_reads", "zero")
    assert stats.judge(zero, stats.Comparison(0, 0), [0, 0, 0])[0] == "holds"
    assert stats.judge(zero, stats.Comparison(0, 1), [0, 2, 0])[0] == "refuted"
    none = Expectation("p50", "none")
    assert stats.judge(none, _cmp(0.01, -0.01, 0.03, p=0.4, significant=False))[0] == "holds"
    assert stats.judge(none, _cmp(0.10, 0.05, 0.15))[0] == "refuted"


def test_every_verdict_comes_with_a_readable_reason():
    verdict, reason = stats.judge(Expectation("m", "decrease", -0.60, -0.40), _cmp(-0.10, -0.15, -0.05))
    assert verdict == "refuted" and "−" not in reason and "-10.0 %" in reason and "falls short" in reason
