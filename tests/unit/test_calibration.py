"""A/A calibration: identical arms give no significant change, and the summary says how wide the noise is."""
import json

import numpy as np
import pandas as pd

from analysis import calibration, noise, patterns, results, stats
from analysis.results import RunMeta


def _aa_study(root, name, rng, drift=0.0):
    study = root / name
    results.write_study(study, results.StudyMeta.from_dict({"study": name, "created": results.utc_now(), "patterns": ["aa"]}))
    for repeat in range(4):
        for arm in ("baseline", "treatment"):
            shift = drift if arm == "treatment" else 0.0
            meta = RunMeta(f"aa-{repeat}-{arm}", name, "aa", arm, repeat)
            derived = pd.DataFrame({"metric": ["requests", "pg_statements", "errors", "throughput_rps"],
                                    "value": [1000, 3000 * (1 + shift) * rng.normal(1, 0.01), 0,
                                              200 * rng.normal(1, 0.02)], "unit": ""})
            requests = pd.DataFrame({"timestamp": pd.Timestamp("2026-01-01", tz="UTC"), "name": "/api/v1/dashboard/1",
                                     "response_time_ms": rng.lognormal(2.5, 0.4, 400), "success": True})
            results.save_run(study, meta, {"derived": derived, "requests": requests})
    return study


def test_identical_arms_are_never_flagged_and_the_detectable_change_exceeds_the_noise(tmp_path):
    rng = np.random.default_rng(7)
    studies = [_aa_study(tmp_path, f"aa{i}", rng) for i in range(3)]
    summary = calibration.summarize(studies).set_index("metric")
    assert calibration.false_positive_rate(summary.reset_index()) == 0.0
    assert "error_rate" not in summary.index  # no errors in either arm: nothing to test
    pg = summary.loc["pg_statements_per_request"]
    assert pg["studies"] == 3 and pg["smallest_detectable"] > pg["noise"]


def test_a_real_difference_between_the_arms_is_counted_as_a_false_positive(tmp_path):
    rng = np.random.default_rng(8)
    summary = calibration.summarize([_aa_study(tmp_path, "drift", rng, drift=0.3)])
    assert summary.set_index("metric").loc["pg_statements_per_request", "significant"] == 1


def test_calibrate_stores_this_machine_s_thresholds_and_comparisons_say_they_use_them(tmp_path):
    rng = np.random.default_rng(9)
    studies = [_aa_study(tmp_path, f"aa{i}", rng) for i in range(2)]
    summary = calibration.summarize(studies)
    stored = calibration.store(summary, studies, tmp_path)
    thresholds = noise.load(tmp_path)
    assert stored == noise.path(tmp_path) and "2 A/A studies" in thresholds.source
    largest = summary.set_index("metric").loc["dashboard_p95_ms", "largest_change"]
    p95 = patterns.get("redis-cache").metric("dashboard_p95_ms")  # shares the A/A p95's threshold
    assert thresholds.noise(p95) == (max(largest, noise.MIN_NOISE), thresholds.source)
    errors = patterns.get("aa").metric("error_rate")  # absolute scale: keeps its constant
    assert thresholds.noise(errors)[0] == errors.noise and thresholds.noise(errors)[1].startswith("constant")
    table = stats.compare_study(studies[0], noise.load(tmp_path)).set_index("metric")
    assert "calibration" in table.loc["dashboard_p95_ms", "noise_source"]
    assert stats.compare_study(studies[0]).set_index("metric").loc["dashboard_p95_ms", "noise_source"] \
        .startswith("constant"), "runs that name no host get the constants"
    assert noise.load(tmp_path / "elsewhere").values == {}


def test_a_study_picks_up_the_calibration_of_the_host_its_runs_name(tmp_path):
    rng = np.random.default_rng(10)
    study = _aa_study(tmp_path, "aa-on-h1", rng)
    for meta in study.glob("*/meta.json"):  # the runs were measured on host "h1"
        meta.write_text(json.dumps({**json.loads(meta.read_text()), "machine": {"hostname": "h1"}}))
    noise.store(tmp_path, {"latency_p95": 0.3}, ["aa-on-h1"], "2026-12-02", host="h1")
    row = stats.compare_study(study).set_index("metric").loc["dashboard_p95_ms"]
    assert row["noise"] == 0.3 and "h1.json" in row["noise_source"]
