"""The ``sentinel-lab`` commands compare, report and study through typer's runner, on a stored study
(synthetic samples written as a real study writes them: no stack, no load)."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from analysis.cli import app
from analysis.stats import compare_study
from synthetic_study import make_study  # tests/notebooks is on sys.path


@pytest.fixture(scope="module")
def lab_dirs(tmp_path_factory):
    base = tmp_path_factory.mktemp("cli")
    study = make_study(base / "results", "cli-aa", ("aa",), {}, repeats=2)
    env = {"LAB_RESULTS_DIR": str(base / "results"), "LAB_REPORTS_DIR": str(base / "reports"),
           "LAB_RUN_DIR": str(base / "run")}
    return study, env


def _invoke(env, *args):
    return CliRunner().invoke(app, list(args), env=env)


def _said(result) -> str:
    return result.output + (result.stderr if result.stderr_bytes is not None else "")


def test_compare_prints_the_stored_verdicts(lab_dirs):
    study, env = lab_dirs
    result = _invoke(env, "compare", "--json")  # the latest study
    assert result.exit_code == 0, _said(result)
    printed, expected = json.loads(result.stdout), compare_study(study)
    assert printed["study"] == "cli-aa"
    assert [(r["metric"], r["verdict"]) for r in printed["rows"]] == list(zip(expected["metric"], expected["verdict"]))
    table = _invoke(env, "compare", "cli-aa")
    assert table.exit_code == 0 and "study cli-aa" in table.stdout


def test_compare_of_an_unknown_study_says_what_to_run(lab_dirs):
    result = _invoke(lab_dirs[1], "compare", "no-such-study")
    assert result.exit_code == 1 and "run `sentinel-lab study` first" in _said(result)


def test_report_renders_the_stored_study_and_prints_its_index(lab_dirs):
    study, env = lab_dirs
    result = _invoke(env, "report", "cli-aa")
    assert result.exit_code == 0, _said(result)
    index = result.stdout.strip().splitlines()[-1]
    assert index.endswith("index.html") and "cli-aa" in open(index).read()


def test_report_of_an_unknown_study_fails_with_a_message(lab_dirs):
    result = _invoke(lab_dirs[1], "report", "no-such-study")
    assert result.exit_code == 1 and "no-such-study" in _said(result)


def test_study_of_an_unknown_pattern_fails_before_any_stack(lab_dirs):
    result = _invoke(lab_dirs[1], "study", "no-such-pattern")
    assert result.exit_code == 1 and "no-such-pattern" in _said(result)


def test_rules_belong_to_the_correlated_alerts_study(lab_dirs, tmp_path):
    rules = tmp_path / "rules.yml"
    rules.write_text("groups: []\n")
    result = _invoke(lab_dirs[1], "study", "redis-cache", "--rules", str(rules))
    assert result.exit_code == 1 and "sentinel-lab study correlated-alerts --rules PATH" in _said(result)
