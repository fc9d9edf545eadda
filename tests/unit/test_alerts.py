"""Backtest scoring against a ground truth built by hand: every count is known in advance."""
from __future__ import annotations

import math
import shutil
import subprocess
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from analysis import alerts, faults

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _truth(*windows: tuple[str, float, float]) -> pd.DataFrame:
    """(kind, start s, end s) → a ground-truth frame like faults.truth's, 100 s long, 10 s lead-in."""
    tl = faults.Timeline(7, tuple(faults.Window(k, s, e - s, 1, k in faults.BENIGN) for k, s, e in windows), 100.0, 10.0)
    return faults.truth(tl, [faults.Injected(w, w.start_s, w.end_s) for w in tl.windows], T0)


def _eps(*rows: tuple[str, str, float, float]) -> pd.DataFrame:
    return pd.DataFrame([(r, n, T0 + timedelta(seconds=s), T0 + timedelta(seconds=e)) for r, n, s, e in rows],
                        columns=["ruleset", "alertname", "start", "end"])


TRUTH = _truth(("api-5xx", 20, 25), ("load-spike", 40, 44), ("redis-down", 60, 65), ("http-flood", 80, 85))


def test_detection_false_alert_and_miss_are_counted():
    eps = _eps(("single", "A", 22, 30),   # catches the 5xx burst after 2 s, resets 5 s after it ended
               ("single", "B", 41, 43),   # fires during the load spike: a false alert
               ("single", "C", 5, 8),     # inside the lead-in: never scored
               ("correlated", "D", 61, 63))  # another set's: not this one's
    s = alerts.score(TRUTH, eps, alerts.RULESETS["single"], T0)
    assert list(s.windows["kind"]) == ["api-5xx", "redis-down"]  # the sets' scope: API faults only
    assert list(s.windows["detected"]) == [True, False]
    assert s.recall == 0.5 and s.false_alerts == 1 and s.precision == 0.5
    assert s.ttd(0.5) == pytest.approx(2.0) and s.reset() == pytest.approx(5.0)
    # 90 s scored, less the three faults and their grace periods
    assert s.fault_free_s == pytest.approx(90 - 3 * (5 + alerts.GRACE_S))
    assert s.false_per_h == pytest.approx(1 / (s.fault_free_s / 3600))


def test_an_alert_after_the_grace_period_is_a_miss_and_a_false_alert():
    late = 25 + alerts.GRACE_S + 1
    s = alerts.score(TRUTH, _eps(("single", "A", late, late + 3)), alerts.RULESETS["single"], T0)
    assert not s.windows["detected"].any() and s.false_alerts == 1


def test_an_alert_within_the_grace_period_belongs_to_the_fault():
    s = alerts.score(TRUTH, _eps(("nginx", "F", 85 + alerts.GRACE_S - 1, 90)), alerts.RULESETS["nginx"], T0)
    assert s.windows.set_index("kind")["detected"].to_dict() == {"http-flood": True}
    assert s.false_alerts == 0 and s.precision == 1.0


def test_an_alert_still_firing_from_an_earlier_fault_does_not_detect_the_next_one():
    truth = _truth(("api-5xx", 20, 25), ("redis-down", 27, 32))
    s = alerts.score(truth, _eps(("single", "A", 23, 31)), alerts.RULESETS["single"], T0)
    assert s.windows.set_index("kind")["detected"].to_dict() == {"api-5xx": True, "redis-down": False}


def test_an_alert_starting_in_a_benign_event_right_after_a_fault_is_false_though_within_the_grace():
    truth = _truth(("api-5xx", 20, 25), ("load-spike", 27, 30))  # the fault's grace would run to 29 s
    s = alerts.score(truth, _eps(("single", "A", 22, 26), ("single", "B", 28, 30)), alerts.RULESETS["single"], T0)
    assert s.episodes.set_index("alertname")["true"].to_dict() == {"A": True, "B": False}
    assert s.fault_free_s == pytest.approx(90 - 7)  # the fault owns 20–27 s, not the benign event's time


def test_no_rules_detect_nothing_and_raise_no_false_alert():
    s = alerts.score(TRUTH, _eps(), alerts.RULESETS["none"], T0)
    assert s.recall == 0.0 and s.false_alerts == 0 and math.isnan(s.precision)
    values = alerts.values(s)
    assert values["recall"] == (0.0, "ratio") and "precision" not in values  # undefined is left out


def test_claim_values_are_zero_only_when_the_bounds_hold():
    spec = alerts.Backtest("none", "nginx", min_recall=0.9, max_false_per_h=1.0, detect_within_scrapes=2)
    fast = alerts.score(TRUTH, _eps(("nginx", "F", 81, 84)), alerts.RULESETS["nginx"], T0)
    assert alerts.claim_values(fast, spec, detect_within_s=4.0) == {
        "recall_shortfall": (0.0, "ratio"), "late_detections": (0.0, "windows"),
        "false_alerts_over_budget": (0.0, "alerts")}
    slow = alerts.score(TRUTH, _eps(("nginx", "F", 86, 88), ("nginx", "G", 50, 52)), alerts.RULESETS["nginx"], T0)
    got = alerts.claim_values(slow, spec, detect_within_s=4.0)
    assert got["late_detections"][0] == 1 and got["false_alerts_over_budget"][0] > 0.9


def test_episodes_split_on_gaps():
    ts = [T0 + timedelta(seconds=s) for s in (0, 1, 2, 10, 11)]
    firing = pd.DataFrame({"timestamp": ts, "alertname": "A", "ruleset": "single", "value": 1.0})
    eps = alerts.episodes(firing)
    assert [((e.start - T0).total_seconds(), (e.end - T0).total_seconds()) for e in eps.itertuples()] == [
        (0, 3), (10, 12)]
    assert alerts.episodes(pd.DataFrame()).empty


def test_interval_is_over_timelines_and_windows():
    low, high = alerts.interval([np.array([1, 1, 0, 1]), np.array([0, 1, 1, 1])])
    assert 0 <= low < 0.75 < high <= 1
    assert alerts.interval([np.ones(5), np.ones(3)]) == (1.0, 1.0)
    assert all(math.isnan(x) for x in alerts.interval([]))


def test_summary_pools_timelines():
    s1 = alerts.score(TRUTH, _eps(("single", "A", 22, 30)), alerts.RULESETS["single"], T0)
    s2 = alerts.score(TRUTH, _eps(("single", "A", 61, 66), ("single", "B", 41, 43)), alerts.RULESETS["single"], T0)
    out = alerts.summary([s1, s2])
    assert out["timelines"] == 2 and out["windows"] == 4 and out["false_alerts"] == 1
    assert out["recall"]["value"] == 0.5 and out["precision"]["value"] == pytest.approx(2 / 3, abs=1e-4)


def test_every_lab_rule_set_is_labelled_and_uses_short_for_periods():
    for name in ("single", "correlated", "burnrate", "nginx"):
        fors = alerts.rule_fors(name)
        assert fors, f"no alerting rule labelled ruleset={name}"
        assert max(fors.values()) <= 5


def test_user_rules_are_labelled_and_bad_files_refused():
    text = "groups:\n  - name: mine\n    rules:\n      - alert: X\n        expr: up == 0\n"
    assert "ruleset: user" in alerts.label_rules(text)
    with pytest.raises(ValueError, match="groups"):
        alerts.label_rules("- not: rules\n")
    with pytest.raises(ValueError, match="no alerting rule"):
        alerts.label_rules("groups:\n  - name: r\n    rules:\n      - record: a\n        expr: up\n")
    assert alerts.parse_for("2s") == 2 and alerts.parse_for("1m") == 60


@pytest.mark.skipif(not shutil.which("promtool"), reason="promtool is not installed (make deps)")
def test_rule_files_are_valid_promql():
    files = sorted(str(p) for p in alerts.RULES_DIR.glob("*.yml"))
    done = subprocess.run(["promtool", "check", "rules", *files], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
