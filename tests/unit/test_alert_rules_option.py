"""`sentinel-lab study correlated-alerts --rules PATH`: a bad file or a wrong pattern is refused with a message."""
from __future__ import annotations

import shutil

import pytest
from typer.testing import CliRunner

from analysis.cli import app


@pytest.fixture
def lab_env(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("LAB_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setenv("LAB_PORT_BASE", "39000")  # nothing listens there: no stack is touched
    return tmp_path


def _study(*args):
    return CliRunner().invoke(app, ["study", *args])


def test_rules_only_for_the_correlated_alerts_study(lab_env):
    rules = lab_env / "r.yml"
    rules.write_text("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n")
    out = _study("nginx-metrics", "--rules", str(rules))
    assert out.exit_code == 1 and "correlated-alerts" in out.output


def test_a_file_without_groups_is_refused(lab_env):
    rules = lab_env / "r.yml"
    rules.write_text("- alert: A\n")
    out = _study("correlated-alerts", "--rules", str(rules))
    assert out.exit_code == 1 and "groups" in out.output


@pytest.mark.skipif(not shutil.which("promtool"), reason="promtool is not installed (make deps)")
def test_invalid_promql_is_refused_in_promtools_words_and_not_left_installed(lab_env):
    rules = lab_env / "r.yml"
    rules.write_text("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: 'up =='\n")
    out = _study("correlated-alerts", "--rules", str(rules))
    assert out.exit_code == 1 and "promtool rejects" in out.output and "parse error" in out.output
    assert not list((lab_env / "run").rglob("user-rules.yml"))
