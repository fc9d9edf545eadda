"""The correlated rules' log signals: mtail's counters locally, the Loki ruler's series in compose.

Loki does not run here, so its LogQL is never evaluated and its remote write never exercised: these
tests check what can be checked without it. The ruler's rule file has the ruler's format and
LogQL's shape; every series the compose copy reads is one the ruler records (by name, parsed from
both files); the local copy reads only counters mtail defines; and promtool runs the correlated
rules on the compose copy with those series.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from analysis import alerts

PROM = alerts.RULES_DIR.parent
SIGNALS = PROM / "log-signals"
LOKI_RULES = PROM.parent / "loki" / "rules" / "fake"  # "fake": Loki's tenant when auth is off
MTAIL = PROM.parent / "mtail"
COMPOSE_TESTS = PROM / "tests" / "compose"
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"


def _rules(path: Path) -> list[dict]:
    return [r for g in yaml.safe_load(path.read_text())["groups"] for r in g["rules"]]


def _read(expr: str) -> set[str]:
    """The series names a PromQL expression reads (functions, keywords and label names left out)."""
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"", " ", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right|offset)\s*\([^)]*\)", " ", expr)
    names = set(re.findall(rf"(?<![\w:.])({NAME})(?![\w:])(?!\s*\()", expr))
    return names - {"and", "or", "unless", "offset", "by", "on", "bool"} - {n for n in names if re.fullmatch(r"\d\w*", n)}


def _recorded_by_loki() -> set[str]:
    return {r["record"] for p in LOKI_RULES.glob("*.yml") for r in _rules(p)}


def test_the_loki_ruler_rules_have_the_ruler_format_and_logql_metric_queries():
    files = sorted(LOKI_RULES.glob("*.yml"))
    assert files, f"no Loki ruler rule file in {LOKI_RULES}"
    for path in files:
        for group in yaml.safe_load(path.read_text())["groups"]:
            assert group["name"] and re.fullmatch(r"\d+[smh]", str(group["interval"])), group
            for rule in group["rules"]:
                assert set(rule) <= {"record", "expr", "labels"} and re.fullmatch(NAME, rule["record"])
                expr = rule["expr"]
                assert all(expr.count(a) == expr.count(b) for a, b in ("()", "{}", "[]")), expr
                # a metric query over a log range: rate/count_over_time of {selector} [| stages] [range]
                assert re.search(r"\b(rate|count_over_time|bytes_rate|sum_over_time)\(\{", expr), expr
                selectors = re.findall(r"\{([^}]*)\}", expr)
                for sel in selectors:
                    for matcher in sel.split(","):
                        assert re.fullmatch(r'\s*\w+\s*(=|!=|=~|!~)\s*"[^"]*"\s*', matcher), (sel, expr)
                assert re.search(r"\[\d+[smh]\]\)", expr), f"no range vector in {expr}"


def test_every_series_the_compose_log_signals_read_is_one_the_loki_ruler_records():
    read = {n for r in _rules(SIGNALS / "loki.yml") for n in _read(r["expr"])}
    assert read and read <= _recorded_by_loki(), f"read but never recorded by the Loki ruler: {read - _recorded_by_loki()}"


def test_the_local_log_signals_read_only_counters_mtail_defines():
    defined = {m for p in MTAIL.glob("*.mtail") for m in re.findall(rf"^counter\s+({NAME})", p.read_text(), re.M)}
    read = {n for r in _rules(SIGNALS / "mtail.yml") for n in _read(r["expr"])}
    assert read and read <= defined, f"read but not defined by mtail: {read - defined}"


def test_both_stacks_record_the_same_log_signals_and_the_correlated_rules_read_them():
    local, compose = ({r["record"] for r in _rules(SIGNALS / f)} for f in ("mtail.yml", "loki.yml"))
    assert local == compose
    correlated = {n for r in _rules(alerts.RULES_DIR / "alerts-correlated.yml") if "alert" in r for n in _read(r["expr"])}
    assert local <= correlated, f"recorded but not read by the correlated rules: {local - correlated}"
    assert not {n for n in correlated if n.startswith("sentinel_log_")}, "the correlated rules read mtail directly"


def _promtool(*paths: Path, cwd: Path) -> subprocess.CompletedProcess:
    if not shutil.which("promtool"):
        pytest.fail("promtool is not installed: run stack/local/install-deps.sh")
    return subprocess.run(["promtool", "test", "rules", *map(str, paths)], capture_output=True, text=True, cwd=cwd)


def test_the_correlated_rules_pass_their_compose_tests_on_the_loki_ruler_series():
    done = _promtool(*sorted(COMPOSE_TESTS.glob("*.yml")), cwd=COMPOSE_TESTS)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_compose_signal_reading_a_series_the_ruler_does_not_write_fails_the_tests(tmp_path):
    """Positive control: the compose copy renamed to a series the Loki ruler never writes."""
    copy = tmp_path / "prometheus"
    shutil.copytree(PROM, copy, ignore=shutil.ignore_patterns("tests"))
    shutil.copytree(COMPOSE_TESTS, copy / "tests" / "compose")
    signals = copy / "log-signals" / "loki.yml"
    signals.write_text(signals.read_text().replace("sentinel:log_errors:rate1m", "sentinel:log_errors:rate5m"))
    done = _promtool(copy / "tests" / "compose" / "correlated.yml", cwd=copy / "tests" / "compose")
    assert done.returncode != 0 and "CorrelatedApiErrors" in done.stdout + done.stderr
