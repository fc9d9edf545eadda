"""compare_study reads a stored study and judges each claim."""
from __future__ import annotations

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from analysis import patterns as pats
from analysis import results, stats
from analysis.cli import app
from analysis.results import RunMeta


def _store(study, pattern, arm, repeat, statements, latency_scale, rng, warmup=False, untrusted=False,
           stale_checks=40, probe_errors=()):
    requests = 1000
    run_id = f"{pattern}-{repeat}-{arm}" + ("-w" if warmup else "")
    meta = RunMeta(run_id, study.name, pattern, arm, repeat, warmup=warmup, untrusted=untrusted,
                   start=f"2025-01-01T00:{repeat:02d}:00+00:00", workload={"probe_errors": list(probe_errors)})
    names = ["requests", "pg_statements", "errors", "throughput_rps"]
    values = [requests, statements * requests, 0, rng.normal(200, 2)]
    if not probe_errors:  # a failed probe emits no value
        names, values = names + ["stale_reads", "stale_checks"], values + [0, stale_checks]
    derived = pd.DataFrame({"metric": names, "value": values, "unit": ""})
    latency = rng.lognormal(3.0, 0.4, 1500) * latency_scale
    frame = pd.DataFrame({"timestamp": pd.Timestamp("2025-01-01", tz="UTC"), "name": "/api/dashboard",
                          "response_time_ms": latency, "success": True})
    results.save_run(study, meta, {"derived": derived, "requests": frame})


def test_a_cache_that_halves_statements_holds_and_an_untouched_metric_shows_no_change(tmp_path):
    rng = np.random.default_rng(0)
    study = tmp_path / "s"
    results.write_study(study, results.StudyMeta.from_dict({"study": "s", "created": results.utc_now(), "patterns": ["redis-cache", "aa"],
                                "not_measured": {"aa": "skipped for this test"}}))
    _store(study, "redis-cache", "baseline", 0, 20.0, 1.0, rng, warmup=True)
    for repeat in range(5):
        _store(study, "redis-cache", "baseline", repeat, rng.normal(10, 0.2), 1.0, rng)
        _store(study, "redis-cache", "treatment", repeat, rng.normal(5, 0.2), 1.0, rng)
    _store(study, "redis-cache", "treatment", 9, 50.0, 3.0, rng, untrusted=True)
    table = stats.compare_study(study).set_index(["pattern", "metric"])
    assert list(table.reset_index().columns) == stats.COLUMNS
    pg = table.loc[("redis-cache", "pg_statements_per_request")]
    assert pg["verdict"] == "holds" and -0.55 < pg["change"] < -0.45 and pg["ci_high"] < -0.40
    assert "1 untrusted runs left out" in pg["reason"]
    assert table.loc[("redis-cache", "stale_reads"), "verdict"] == "holds"
    assert table.loc[("redis-cache", "dashboard_p50_ms"), "direction"] == "no change"
    assert table.loc[("redis-cache", "api_cache_hit_ratio"), "verdict"] == "not measured"
    assert (table.loc["aa", "verdict"] == "not measured").all()
    assert table.loc[("redis-cache", "pg_statements_per_request"), "role"] == "primary"
    p95 = table.loc[("redis-cache", "dashboard_p95_ms")]
    assert p95["role"] == "secondary" and "Bonferroni over 6" in p95["reason"] and p95["runs"] == "5 ABBA pairs"
    assert p95["noise_source"].startswith("constant")


def _cache_study(tmp_path, rng, **broken):
    study = tmp_path / "s"
    results.write_study(study, results.StudyMeta.from_dict({"study": "s", "created": results.utc_now(), "patterns": ["redis-cache"]}))
    for repeat in range(4):
        for arm, statements in (("baseline", 10.0), ("treatment", 5.0)):
            extra = broken if (repeat, arm) == (2, "treatment") else {}
            _store(study, "redis-cache", arm, repeat, statements * rng.normal(1, 0.01), 1.0, rng, **extra)
    return study


def test_a_probe_that_failed_in_one_run_leaves_its_metric_not_measured_with_the_probe_s_message(tmp_path):
    study = _cache_study(tmp_path, np.random.default_rng(2),
                         probe_errors=["probe stale-reads: login failed: 401 bad password"])
    row = stats.compare_study(study).set_index("metric").loc["stale_reads"]
    assert row["verdict"] == "not measured"
    assert "probe stale-reads: login failed: 401 bad password" in row["reason"]
    assert "redis-cache-2-treatment" in row["reason"]


def test_a_probe_that_made_no_check_leaves_its_metric_not_measured(tmp_path):
    study = _cache_study(tmp_path, np.random.default_rng(3), stale_checks=0)
    row = stats.compare_study(study).set_index("metric").loc["stale_reads"]
    assert row["verdict"] == "not measured" and "0 checks in run redis-cache-2-treatment" in row["reason"]
    healthy = _cache_study(tmp_path / "ok", np.random.default_rng(3))
    assert stats.compare_study(healthy).set_index("metric").loc["stale_reads", "verdict"] == "holds"


def test_latency_quantiles_are_computed_per_run_and_compared_over_runs(tmp_path):
    """One slow run does not make a pooled p99 regression: the run, not the request, is the unit."""
    rng = np.random.default_rng(4)
    study = tmp_path / "s"
    results.write_study(study, results.StudyMeta.from_dict({"study": "s", "created": results.utc_now(), "patterns": ["redis-cache"]}))
    for repeat in range(4):
        for arm in ("baseline", "treatment"):
            scale = 1.8 if (repeat, arm) == (1, "treatment") else rng.normal(1, 0.05)
            _store(study, "redis-cache", arm, repeat, 10.0 * rng.normal(1, 0.01), scale, rng)
    requests = results.load_source(study, "requests", "redis-cache")
    metric = pats.get("redis-cache").metric("dashboard_p95_ms")
    per_run = stats.run_values(metric, pd.DataFrame(), requests, pd.DataFrame())
    assert len(per_run) == 8
    one = requests[requests["run_id"] == "redis-cache-1-treatment"]["response_time_ms"].quantile(0.95)
    assert per_run.loc[("redis-cache-1-treatment", "treatment")] == one
    row = stats.compare_study(study).set_index("metric").loc["dashboard_p95_ms"]
    assert row["verdict"] == "inconclusive" and row["ci_low"] < 0 < row["ci_high"]


def test_a_probe_s_per_event_samples_become_one_quantile_per_run(tmp_path):
    """Notification latencies: each run's own p95 of its notifications, compared over runs."""
    rng = np.random.default_rng(1)
    study = tmp_path / "s"
    results.write_study(study, results.StudyMeta.from_dict({"study": "s", "created": results.utc_now(), "patterns": ["redis-pubsub"]}))
    for repeat in range(3):
        for arm, scale in (("baseline", 500.0), ("treatment", 5.0)):  # polling ~0.5 s vs push ~5 ms
            meta = RunMeta(f"p-{repeat}-{arm}", "s", "redis-pubsub", arm, repeat)
            samples = pd.DataFrame({"name": "notify_ms", "value": rng.uniform(0.2, 1.8, 300) * scale})
            derived = pd.DataFrame({"metric": ["requests", "errors", "notifications_sent", "notifications_missed"],
                                    "value": [100, 0, 300, 0], "unit": ""})
            results.save_run(study, meta, {"derived": derived, "samples": samples})
    table = stats.compare_study(study).set_index("metric")
    assert table.loc["notify_p95_ms", "verdict"] == "holds"
    assert table.loc["notify_p95_ms", "change"] < -0.95


def test_the_cli_table_shows_a_failed_probe_s_metric_as_not_measured_with_the_reason(tmp_path, monkeypatch):
    _cache_study(tmp_path, np.random.default_rng(5), probe_errors=["probe stale-reads: login failed: 401"])
    monkeypatch.setenv("LAB_RESULTS_DIR", str(tmp_path))
    out = CliRunner().invoke(app, ["compare", "s"])
    assert out.exit_code == 0, out.output
    assert "redis-cache · stale_reads: not measured: probe stale-reads: login failed: 401" in out.output
    assert "Bonferroni" in out.output and "Noise thresholds" in out.output


def test_a_pattern_whose_secondary_claims_are_all_must_be_zero_counts_needs_no_correction():
    """nginx-metrics: its secondary claims are zero counts judged run by run, so no Bonferroni family."""
    pattern = pats.get("nginx-metrics")
    assert not pattern.secondary_tested()
    for e in pattern.expectations:
        assert stats.level(pattern, e.metric) == (1 - stats.ALPHA, 1)
