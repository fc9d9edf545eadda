"""compare_study reads a stored study and judges each claim."""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import results, stats
from analysis.results import RunMeta


def _store(study, pattern, arm, repeat, statements, latency_scale, rng, warmup=False, untrusted=False):
    requests = 1000
    run_id = f"{pattern}-{repeat}-{arm}" + ("-w" if warmup else "")
    meta = RunMeta(run_id, study.name, pattern, arm, repeat, warmup=warmup, untrusted=untrusted,
                   start=f"2025-01-01T00:{repeat:02d}:00+00:00")
    derived = pd.DataFrame({"metric": ["requests", "pg_statements", "errors", "throughput_rps", "stale_reads"],
                            "value": [requests, statements * requests, 0, rng.normal(200, 2), 0],
                            "unit": ""})
    latency = rng.lognormal(3.0, 0.4, 1500) * latency_scale
    frame = pd.DataFrame({"timestamp": pd.Timestamp("2025-01-01", tz="UTC"), "name": "/api/dashboard",
                          "response_time_ms": latency, "success": True})
    results.save_run(study, meta, {"derived": derived, "requests": frame})


def test_a_cache_that_halves_statements_holds_and_an_untouched_metric_shows_no_change(tmp_path):
    rng = np.random.default_rng(0)
    study = tmp_path / "s"
    results.write_study(study, {"study": "s", "created": results.utc_now(), "patterns": ["redis-cache", "aa"],
                                "not_measured": {"aa": "skipped for this test"}})
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


def test_a_probe_s_per_event_samples_are_pooled_per_arm(tmp_path):
    """Notification latencies are one sample per notification, so 2 runs per arm already decide."""
    rng = np.random.default_rng(1)
    study = tmp_path / "s"
    results.write_study(study, {"study": "s", "created": results.utc_now(), "patterns": ["redis-pubsub"]})
    for repeat in range(2):
        for arm, scale in (("baseline", 500.0), ("treatment", 5.0)):  # polling ~0.5 s vs push ~5 ms
            meta = RunMeta(f"p-{repeat}-{arm}", "s", "redis-pubsub", arm, repeat)
            samples = pd.DataFrame({"name": "notify_ms", "value": rng.uniform(0.2, 1.8, 300) * scale})
            derived = pd.DataFrame({"metric": ["requests", "errors"], "value": [100, 0], "unit": ""})
            results.save_run(study, meta, {"derived": derived, "samples": samples})
    table = stats.compare_study(study).set_index("metric")
    assert table.loc["notify_p95_ms", "verdict"] == "holds"
    assert table.loc["notify_p95_ms", "change"] < -0.95
