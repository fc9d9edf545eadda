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


def test_raising_a_threshold_beyond_the_fault_fails_the_tests(tmp_path):
    """Positive control: the threshold of an alert a fault case expects raised out of reach."""
    rules, tests = _copy(tmp_path)
    doc = yaml.safe_load((tests / "single.yml").read_text())
    expected = [t["alertname"] for case in doc["tests"] if "(fault)" in case["name"]
                for t in case["alert_rule_test"] if t["exp_alerts"]]
    path = rules / "alerts-single.yml"
    text = yaml.safe_load(path.read_text())
    edited = None
    for group in text["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") in expected and re.search(r">\s*[0-9.]+\s*$", rule["expr"]) and not edited:
                rule["expr"], edited = re.sub(r">\s*[0-9.]+\s*$", "> 1e9", rule["expr"]), rule["alert"]
    assert edited, f"no fault case of single.yml expects a thresholded alert ({expected})"
    path.write_text(yaml.safe_dump(text, sort_keys=False))
    done = _run(tests, "single")
    assert done.returncode != 0 and edited in done.stdout + done.stderr
