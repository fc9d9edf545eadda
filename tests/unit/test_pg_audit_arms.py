"""P7's arms: toggles a reload applies, the design's configuration rendered as written, and a
recommendation table that follows the measured figures."""
from __future__ import annotations

import math

import pandas as pd

from analysis import audit_report, patterns
from analysis.settings import Settings
from analysis.stack import toggles
from analysis.stack.compose import render_context
from analysis.stack.render import CONFIG_SRC, render_configs


def test_switching_audit_arms_needs_only_a_reload_but_other_postgres_toggles_do_not_hide_behind_it():
    none, design = patterns.PG_AUDIT_ARMS["none"], patterns.PG_AUDIT_ARMS["design"]
    assert toggles.reload_only("postgres", none, design)
    assert not toggles.reload_only("postgres", none, none)  # nothing changed: nothing to do
    assert not toggles.reload_only("api", none, design)  # the API is not affected at all


def _postgresql_conf(tmp_path, arm: str, compose_redis_passwords: dict[str, str]) -> str:
    context = render_context(Settings(), patterns.PG_AUDIT_ARMS[arm], compose_redis_passwords)
    render_configs(CONFIG_SRC, tmp_path, context, only={"postgres"})
    return (tmp_path / "postgres" / "audit.reload.conf").read_text()


def test_the_design_arm_is_the_design_documents_configuration_exactly(tmp_path, compose_redis_passwords):
    conf = _postgresql_conf(tmp_path, "design", compose_redis_passwords)
    for line in ("log_statement = 'all'", "log_duration = on", "log_min_duration_statement = 100"):
        assert f"\n{line}\n" in conf, line
    none = _postgresql_conf(tmp_path, "none", compose_redis_passwords)
    assert "\nlog_statement = 'none'\n" in none and "\nlog_min_duration_statement = -1\n" in none


def test_every_arm_is_a_pattern_against_no_statement_logging_and_only_the_design_runs_in_quick_studies():
    audit = [p for p in patterns.PATTERNS if p.id.startswith("pg-audit")]
    assert {p.id for p in audit if p.quick} == {"pg-audit"}
    assert all(p.baseline == patterns.PG_AUDIT_ARMS["none"] for p in audit)
    assert {audit_report.arm_of(p.id) for p in audit} == set(patterns.PG_AUDIT_ARMS) - {"none"}
    for p in audit:
        toggles.validate(p.treatment)


def _overhead(arm: str, p95_high: float, throughput_low: float) -> list[dict]:
    return [{"metric": f"{arm} · p95_ms", "ci_high": p95_high, "ci_low": -0.01},
            {"metric": f"{arm} · throughput_rps", "ci_low": throughput_low, "ci_high": 0.01}]


def test_the_recommendation_follows_the_measured_figures():
    figures = pd.DataFrame([
        {"arm": "design", "runs": 4, "pg_log_bytes_per_request": 850.0, "pg_log_lines_per_request": 8.6,
         "slow_query_recall": 0.0, "slow_query_recall_paired": 1.0, "password_leaks": 3.0, "verifier_leaks": 3.0,
         "error_path_leaks": 1.0, "write_audit_share": 1.0, "ddl_audit_share": 1.0},
        {"arm": "min250", "runs": 4, "pg_log_bytes_per_request": 2.0, "pg_log_lines_per_request": 0.01,
         "slow_query_recall": 0.6, "slow_query_recall_paired": 0.6, "password_leaks": 0.0, "verifier_leaks": 0.0,
         "error_path_leaks": 1.0, "write_audit_share": 0.0, "ddl_audit_share": 0.0},
    ])
    overhead = pd.DataFrame(_overhead("design", 0.25, -0.12) + _overhead("min250", 0.04, -0.02))
    table = audit_report.recommendations(figures, overhead).set_index("arm")
    assert table.loc["design", "no password in the log"].startswith("✗")
    assert table.loc["design", "audit trail of writes"].startswith("✓")
    assert table.loc["design", "cheap"].startswith("✗")
    assert table.loc["min250", "gives"] == "cheap, no password in the log"
    assert not math.isnan(float(table.loc["design", "log bytes/request"]))
