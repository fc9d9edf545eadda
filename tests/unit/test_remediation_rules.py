"""P3's alert rules: their promtool tests pass, and fail once a rule cannot fire (positive control)."""
from __future__ import annotations

import shutil

import pytest

from analysis import alerts, ruletests

pytestmark = pytest.mark.skipif(not shutil.which("promtool"), reason="promtool is not installed (make deps)")


def test_the_remediation_rules_pass_their_promtool_tests():
    done = ruletests.check([ruletests.TESTS_DIR / "remediation.yml"], cwd=ruletests.TESTS_DIR)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("alert, expr", [("WorkerDown", 'up{service="worker"} == 0'),
                                         ("TruthsyncInstanceDown", 'up{service="truthsync-1"} == 0')])
def test_a_remediation_rule_that_never_fires_fails_its_tests(tmp_path, alert, expr):
    rules, tests = tmp_path / "rules", tmp_path / "tests"
    shutil.copytree(alerts.RULES_DIR, rules)
    shutil.copytree(ruletests.TESTS_DIR, tests)
    path = rules / "remediation.yml"
    text = path.read_text()
    assert expr in text
    path.write_text(text.replace(expr, f"{expr} and on() vector(0) > 1"))
    done = ruletests.check([tests / "remediation.yml"], cwd=tests)
    assert done.returncode != 0 and alert in done.stdout + done.stderr


def test_a_dashboard_alert_hidden_by_the_api_error_mode_fails_its_tests(tmp_path):
    """P3 plays the API's two faults at once: the cache alert must not be silenced by the error mode's."""
    rules, tests = tmp_path / "rules", tmp_path / "tests"
    shutil.copytree(alerts.RULES_DIR, rules)
    shutil.copytree(ruletests.TESTS_DIR, tests)
    path = rules / "remediation.yml"
    text = path.read_text()
    head, sep, tail = text.partition("- alert: DashboardCachePoisoned")
    other = ('sum(rate(http_requests_total{service="api", handler!~".*/dashboard/.*", status=~"5.."}[5s])) '
             '/ clamp_min(sum(rate(http_requests_total{service="api", handler!~".*/dashboard/.*"}[5s])), 1e-9)')
    tail = tail.replace(") > 0.5\n", f") > 0.5 unless on() ({other} > 0.5)\n", 1)
    path.write_text(head + sep + tail)
    done = ruletests.check([tests / "remediation.yml"], cwd=tests)
    assert done.returncode != 0 and "DashboardCachePoisoned" in done.stdout + done.stderr
