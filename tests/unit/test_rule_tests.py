"""The promtool tests generated from a real timeline pass, and fail once a rule stops catching its fault."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from analysis import alerts, ruletests

pytestmark = pytest.mark.skipif(not shutil.which("promtool"), reason="promtool is not installed (make deps)")
TESTS = sorted(ruletests.TESTS_DIR.glob("*.yml"))


def _copy(tmp_path: Path) -> tuple[Path, Path]:
    rules, tests = tmp_path / "rules", tmp_path / "tests"
    shutil.copytree(alerts.RULES_DIR, rules)
    shutil.copytree(ruletests.TESTS_DIR, tests)
    shutil.copytree(ruletests.PROM_DIR / "log-signals", tmp_path / "log-signals")
    return rules, tests


def _run(tests_dir: Path, name: str):
    return ruletests.check([tests_dir / f"{name}.yml"], cwd=tests_dir)


def test_every_lab_rule_set_has_generated_tests_that_pass():
    assert {p.stem for p in TESTS} == {"single", "correlated", "burnrate", "nginx", "remediation"}  # the last by hand
    for path in TESTS:
        doc = yaml.safe_load(path.read_text())
        assert doc["tests"], f"{path.name} has no test case"
    done = ruletests.check(TESTS)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("name", ["correlated"])
def test_a_rule_that_never_fires_fails_its_tests(tmp_path, name):
    """Positive control: every alert of the set made unable to fire; its fault cases must now fail."""
    rules, tests = _copy(tmp_path)
    for path in rules.glob("alerts-*.yml"):
        doc = yaml.safe_load(path.read_text())
        for group in doc["groups"]:
            for rule in group["rules"]:
                if rule.get("labels", {}).get("ruleset") == name:
                    rule["expr"] = "vector(1) < 0"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
    assert _run(tests, name).returncode != 0


def _raise_threshold(rules: Path, alertname: str) -> None:
    """In the copy ``rules``: ``alertname``'s last threshold (``> N`` ending its expression) raised to 1e9."""
    for path in rules.glob("alerts-*.yml"):
        doc = yaml.safe_load(path.read_text())
        for group in doc["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") == alertname:
                    assert re.search(r">\s*[0-9.]+\s*$", rule["expr"]), f"{alertname} ends in no threshold"
                    rule["expr"] = re.sub(r">\s*[0-9.]+\s*$", "> 1e9", rule["expr"])
                    path.write_text(yaml.safe_dump(doc, sort_keys=False))
                    return
    raise AssertionError(f"no rule {alertname} in {rules}")


def _expected(tests: Path, name: str, fault: str = "") -> list[str]:
    """The alerts the fault cases (of class ``fault``, or all) of ``name``.yml expect to fire."""
    doc = yaml.safe_load((tests / f"{name}.yml").read_text())
    return [t["alertname"] for case in doc["tests"] if f"{fault} (fault)" in case["name"]
            for t in case["alert_rule_test"] if t["exp_alerts"]]


def test_raising_a_threshold_beyond_the_fault_fails_the_tests(tmp_path):
    """Positive control: the threshold of an alert a fault case expects raised out of reach."""
    rules, tests = _copy(tmp_path)
    edited = next(a for a in _expected(tests, "single") if a in ("SingleApiErrorRate", "SingleApiLatency",
                                                                  "SingleLogErrors"))
    _raise_threshold(rules, edited)
    done = _run(tests, "single")
    assert done.returncode != 0 and edited in done.stdout + done.stderr


@pytest.mark.parametrize("flood", ["http-flood", "slow-flood"])
def test_the_nginx_tests_replay_each_flood_and_fail_once_its_rule_no_longer_catches_it(tmp_path, flood):
    """Positive control: each flood class has a case from a real timeline; its rule's threshold raised
    beyond the flood in a copy of the rule file, promtool fails and names the rule."""
    rules, tests = _copy(tmp_path)
    expected = _expected(tests, "nginx", flood)
    assert expected, f"nginx.yml has no {flood} case: regenerate it (python -m analysis.ruletests STUDY)"
    assert _run(tests, "nginx").returncode == 0
    for alertname in set(expected):
        _raise_threshold(rules, alertname)
    done = _run(tests, "nginx")
    assert done.returncode != 0 and all(a in done.stdout + done.stderr for a in expected), done.stdout
