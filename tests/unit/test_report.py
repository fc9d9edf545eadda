"""The report's tables and sentences: verdict first, claims only, absences said plainly."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from analysis import patterns, report, results
from analysis.stats import COLUMNS


def _row(pattern="redis-cache", metric="pg_statements_per_request", claim="-60 %…-40 %", verdict="holds",
         change=-0.5):
    row = dict.fromkeys(COLUMNS, math.nan)
    row.update(pattern=pattern, metric=metric, claim=claim, verdict=verdict, change=change, ci_low=change - 0.02,
               ci_high=change + 0.02, p_value=0.03, baseline=3.0, treatment=1.5, reason="why", unit="u")
    return row


ROWS = pd.DataFrame([
    _row(),
    _row(metric="cache_hit_ratio", claim="", verdict=""),  # context, no claim
    _row(pattern="aa", metric="throughput_rps", claim="no change", verdict="refuted", change=0.1),
    _row(pattern="celery-metrics", metric="tasks_unaccounted", claim="must be 0", verdict="not measured",
         change=math.nan),
])


def test_verdict_table_lists_claims_only_verdict_first_refuted_leading():
    table = report.verdict_table(ROWS)
    assert list(table.columns[:2]) == ["verdict", "pattern"]
    assert list(table["verdict"]) == ["refuted", "holds", "not measured"]
    assert table.loc[1, "change [CI]"] == "\u221250 % [\u221252 %, \u221248 %]"
    assert len(report.verdict_table(ROWS, claims_only=False)) == 4


def test_verdict_table_html_links_only_rendered_pages_and_escapes_text():
    rows = pd.DataFrame([_row(), _row(pattern="aa", metric="<script>", claim="no change")])
    html = report.verdict_table_html(rows, links=frozenset({"redis-cache"}))
    assert '<a href="redis-cache.html">redis-cache</a>' in html and 'href="aa.html"' not in html
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_index_names_what_was_absent_and_what_was_not_measured():
    meta = {"study": "s1", "stack": "local", "repeats": 3, "duration_s": 30, "patterns": ["redis-cache"],
            "absent": {"grafana": "Docker only"}, "not_measured": {"celery-metrics": "worker absent"}}
    html = report.index_html(results.StudyMeta.from_dict(meta), ROWS, ["overview", "redis-cache"])
    assert "grafana was absent: Docker only" in html and "celery-metrics was not measured: worker absent" in html
    assert 'href="overview.html"' in html
    everything = report.index_html(results.StudyMeta.from_dict({**meta, "absent": {}, "not_measured": {}}), ROWS,
                                   ["overview"])
    assert "Every service ran and every pattern was measured" in everything


def test_a_compose_study_says_that_remediation_restarts_are_record_only():
    meta = {"study": "s1", "stack": "compose", "repeats": 3, "duration_s": 30, "patterns": ["redis-cache"],
            "absent": {}, "not_measured": {}}
    assert "restart actions are record-only in compose" in report.index_html(results.StudyMeta.from_dict(meta), ROWS,
                                                                             ["overview"])


def test_per_run_values_turn_counts_into_rates_per_request_and_latency_into_run_quantiles():
    pattern = patterns.get("redis-cache")
    derived = pd.DataFrame({"run_id": ["r1"] * 2 + ["r2"] * 2, "arm": ["baseline"] * 2 + ["treatment"] * 2,
                            "repeat": 1, "metric": ["requests", "pg_statements"] * 2, "value": [100, 300, 100, 150]})
    requests = pd.DataFrame({"run_id": "r1", "arm": "baseline", "repeat": 1, "name": "GET dashboard",
                             "response_time_ms": range(1, 101), "success": True})
    values = report.per_run_values(pattern, derived, requests).set_index(["metric", "run_id"])["value"]
    assert values[("pg_statements_per_request", "r1")] == 3.0
    assert values[("pg_statements_per_request", "r2")] == 1.5
    assert values[("dashboard_p50_ms", "r1")] == pytest.approx(50.5)


def test_claim_bands_shade_the_claimed_range_and_open_ended_bounds():
    bands = report.claim_bands(patterns.get("redis-cache"))
    assert bands["pg_statements_per_request"] == (-0.60, -0.40)
    assert bands["throughput_rps"] == (-0.05, None)  # higher is better: only a fall is a regression
    assert report.claim_bands(patterns.get("aa"))["error_rate"] == (-0.005, 0.005)  # absolute: 0.5 pp
    calibrated = pd.DataFrame([{**_row(metric="throughput_rps"), "noise": 0.08}])
    assert report.claim_bands(patterns.get("redis-cache"), calibrated)["throughput_rps"] == (-0.08, None)


def test_trivially_zero_no_regression_checks_fold_into_one_line_per_pattern():
    zero = dict(claim="no regression", verdict="holds", change=0.0)
    rows = pd.DataFrame([_row(), {**_row(metric="error_rate", **zero), "baseline": 0.0, "treatment": 0.0},
                         {**_row(metric="timeouts", **zero), "baseline": 0.0, "treatment": 0.0},
                         {**_row(metric="dashboard_p95_ms", **zero)}])
    table = report.verdict_table(rows)
    assert len(table) == 3
    folded = table[table["metric"] == "error_rate, timeouts"].iloc[0]
    assert folded["verdict"] == "holds" and "0 in every run of both arms" in folded["reason"]


def test_the_report_says_how_the_verdicts_were_reached():
    lines = report.method_lines(pd.DataFrame([{**_row(), "noise_source": "calibration x.json (2 A/A studies)"}]))
    text = " ".join(lines)
    assert "Bonferroni" in text and "primary" in text and "calibration x.json" in text
    assert "constants" in " ".join(report.method_lines(pd.DataFrame([_row()])))


def test_verdict_sentence_leads_with_the_headline_claim():
    sentence = report.verdict_sentence(patterns.get("redis-cache"), ROWS[ROWS["pattern"] == "redis-cache"])
    assert sentence.startswith("Claim holds: pg statements per request fell 50 %")
    assert report.verdict_sentence(patterns.get("aa"), ROWS, "no worker") == "Not measured: no worker."


def test_study_dir_picks_the_latest_study_or_says_what_to_do(tmp_path):
    with pytest.raises(report.ReportError, match="run `sentinel-lab study` first"):
        report.study_dir("", tmp_path)
    results.write_study(tmp_path / "old", results.StudyMeta.from_dict({"study": "old", "created": "2026-01-01T00:00:00+00:00"}))
    results.write_study(tmp_path / "new", results.StudyMeta.from_dict({"study": "new", "created": "2026-02-01T00:00:00+00:00"}))
    assert report.study_dir("", tmp_path).name == "new"
    assert report.study_dir("old", tmp_path).name == "old"
    with pytest.raises(report.ReportError, match="no study 'gone'"):
        report.study_dir("gone", tmp_path)


def test_verdict_table_html_lets_long_names_and_units_wrap_and_still_escapes_them():
    """Metric names and units have no spaces: without a break after ``_`` and ``/`` they widened the table
    past a 1300 px page and pushed the reason column off it."""
    rows = pd.DataFrame([_row(), _row(metric="a_<b>/c", claim="must be 0")])
    html = report.verdict_table_html(rows)
    assert "pg_<wbr>statements_<wbr>per_<wbr>request" in html
    assert "a_<wbr>&lt;b&gt;/<wbr>c" in html and "<b>" not in html
