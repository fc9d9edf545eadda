"""The promtool tests generated from a real timeline pass, and fail once a rule stops catching its fault."""
from __future__ import annotations

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
    assert {p.stem for p in TESTS} == {"single", "correlated", "burnrate", "nginx"}
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
    rules, tests = _copy(tmp_path)
    path = rules / "alerts-nginx.yml"
    text = path.read_text()
    for old, new in (('[5s])) > 10', '[5s])) > 100000'), ("sum(nginx_connections_reading) > 20",
                                                         "sum(nginx_connections_reading) > 100000")):
        assert old in text
        text = text.replace(old, new)
    path.write_text(text)
    done = _run(tests, "nginx")
    assert done.returncode != 0 and "NginxSlowConnections" in done.stdout + done.stderr
