"""Statistics on synthetic samples whose true effect is known."""
from __future__ import annotations

import numpy as np
import pytest

from analysis import stats
from analysis.patterns import Expectation
from analysis.repeats import DEFAULT_REPEATS, QUICK_REPEATS


def test_a_20_percent_drop_over_repeats_is_detected_as_an_improvement():
    rng = np.random.default_rng(7)
    baseline = rng.normal(10.0, 0.3, 5)
    treatment = rng.normal(8.0, 0.3, 5)
    cmp = stats.compare_runs(baseline, treatment, better="lower")
    assert cmp.significant and cmp.direction == "improvement"
    assert cmp.ci_low < -0.20 < cmp.ci_high or abs(cmp.change + 0.20) < 0.05
    assert cmp.ci_high < -0.10


def test_identical_arms_are_called_significant_no_more_often_than_the_nominal_rate():
    rng = np.random.default_rng(5)
    flagged = [stats.compare_runs(*rng.normal(100.0, 3.0, (2, 6)), better="lower").significant
               for _ in range(200)]
    assert np.mean(flagged) <= stats.ALPHA


def test_the_p_value_and_the_interval_agree():
    """p < alpha exactly when the interval excludes no change: one statistic gives both."""
    rng = np.random.default_rng(9)
    b, t = rng.lognormal(0, 0.1, (2, 4000, 5))
    t = t * rng.choice([1.0, 1.1, 1.3], (4000, 1))
    test = stats.run_test(b, t, level=1 - stats.ALPHA)
    excludes = (test.low > 0) | (test.high < 0)
    assert np.array_equal(excludes, test.p < stats.ALPHA)
    assert 0.02 < np.mean(test.p < stats.ALPHA) < 0.98


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


def test_two_runs_per_arm_are_too_few_and_the_guard_says_how_many_to_run():
    cmp = stats.compare_runs([10, 10.2], [5, 5.1])
    assert not cmp.significant
    assert f"at least {stats.MIN_RUNS} runs per arm" in cmp.guard and "--repeats" in cmp.guard
    assert stats.judge(Expectation("x", "decrease", -0.6, -0.4), cmp)[0] == "inconclusive"


def test_the_defaults_have_enough_runs_to_decide():
    assert min(DEFAULT_REPEATS, QUICK_REPEATS) >= stats.MIN_RUNS
    halved = stats.compare_runs([10, 10.1, 9.9, 10.05][:QUICK_REPEATS], [5, 5.1, 4.9, 5.05][:QUICK_REPEATS])
    assert halved.significant and halved.ci_high < -0.4


def test_a_zero_baseline_makes_a_relative_change_undefined_on_the_relative_scale():
    cmp = stats.compare_runs([0.0, 0.0, 0.0, 0.0], [0.0, 0.001, 0.0, 0.0])
    assert not cmp.significant and "relative change is undefined" in cmp.guard


def test_zero_heavy_counts_are_judged_on_absolute_differences_so_0_to_5_percent_errors_regresses():
    errors = stats.compare_runs([0.0] * 4, [0.05, 0.048, 0.052, 0.05], scale="absolute", noise=0.005)
    verdict, reason = stats.judge(Expectation("error_rate", "no_regression"), errors)
    assert verdict == "refuted" and "pp" in reason
    rare = stats.compare_runs([0.0] * 4, [0.0, 0.001, 0.0, 0.0], scale="absolute", noise=0.005)
    assert stats.judge(Expectation("error_rate", "no_regression"), rare)[0] == "holds"
    both_zero = stats.compare_runs([0.0] * 4, [0.0] * 4, scale="absolute")
    assert both_zero.change == 0.0 and both_zero.p_value == 1.0 and not both_zero.significant


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


def test_an_interval_wholly_beyond_the_no_regression_bound_is_a_regression_whatever_the_p_value():
    no_regression = Expectation("verify_p95_ms", "no_regression")
    beyond = stats.Comparison(100, 145, 0.45, 0.18, 0.74, p_value=0.2, noise=0.05)
    verdict, reason = stats.judge(no_regression, beyond)
    assert verdict == "refuted" and "+18.0 %" in reason
    inside = stats.Comparison(100, 101, 0.01, -0.03, 0.04, p_value=0.6, noise=0.05)
    assert stats.judge(no_regression, inside)[0] == "holds"
    straddles = stats.Comparison(100, 101, 0.01, -0.03, 0.09, p_value=0.6, noise=0.05)
    verdict, reason = stats.judge(no_regression, straddles)
    assert verdict == "inconclusive" and "does not rule out" in reason
    faster_is_better = stats.Comparison(100, 60, -0.4, -0.5, -0.3, p_value=0.01, better="higher", noise=0.05)
    assert stats.judge(no_regression, faster_is_better)[0] == "refuted"  # throughput fell beyond the bound


def test_changes_are_formatted_on_their_scale():
    assert stats.format_change(0.123) == "+12.3 %"
    assert stats.format_change(0.05, "absolute", "errors/request") == "+5.0 pp"
    assert stats.format_change(3, "absolute", "requests") == "+3 requests"


def test_abba_pairs_cancel_a_slow_drift_that_welch_counts_as_noise():
    trend = np.array([1.0, 1.3, 1.7, 2.2, 2.8, 3.5])  # the machine gets busier repeat by repeat
    baseline, treatment = 100 * trend, 110 * trend * np.array([1.01, 0.99, 1.0, 1.02, 0.98, 1.0])
    paired = stats.compare_runs(baseline, treatment, pairs=True, noise=0.05)
    welch = stats.compare_runs(baseline, treatment, noise=0.05)
    assert paired.runs == "6 ABBA pairs" and welch.runs == "6 vs 6 runs"
    assert paired.significant and paired.ci_low > 0.05 and not welch.significant
