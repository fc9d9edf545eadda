"""The results store: atomic runs, loaders that see only complete runs."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from analysis import results
from analysis.results import RunMeta


def _run(study_dir, run_id, arm="baseline", repeat=0, start="2025-01-01T00:00:00+00:00", **kw):
    meta = RunMeta(run_id, study_dir.name, "redis-cache", arm, repeat, start=start,
                   end=start, toggles={"SENTINEL_CACHE": "off"}, **kw)
    frames = {"derived": pd.DataFrame({"metric": ["requests"], "value": [100.0], "unit": ["requests"]})}
    return results.save_run(study_dir, meta, frames)


def test_a_saved_run_holds_meta_and_one_parquet_per_source(tmp_path):
    results.write_study(tmp_path / "s1", results.StudyMeta.from_dict({"study": "s1", "created": results.utc_now(), "patterns": ["redis-cache"]}))
    path = _run(tmp_path / "s1", "r1")
    assert sorted(p.name for p in path.iterdir()) == ["derived.parquet", "meta.json"]
    meta = json.loads((path / "meta.json").read_text())
    assert meta["arm"] == "baseline" and meta["toggles"] == {"SENTINEL_CACHE": "off"} and meta["untrusted"] is False


def test_loaders_ignore_half_written_runs(tmp_path):
    study = tmp_path / "s1"
    results.write_study(study, results.StudyMeta.from_dict({"study": "s1", "created": results.utc_now(), "patterns": []}))
    _run(study, "r1")
    half = study / ".r2.tmp"
    half.mkdir()
    (half / "meta.json").write_text("{}")
    assert list(results.runs(study)["run_id"]) == ["r1"]
    assert results.clean_partial_runs(study) == [".r2.tmp"] and not half.exists()


def test_runs_and_sources_come_back_as_one_frame_across_the_study(tmp_path):
    study = tmp_path / "s1"
    results.write_study(study, results.StudyMeta.from_dict({"study": "s1", "created": results.utc_now(), "patterns": ["redis-cache"]}))
    _run(study, "r2", "treatment", 0, start="2025-01-01T00:01:00+00:00")
    _run(study, "r1", "baseline", 0, start="2025-01-01T00:00:00+00:00")
    frame = results.runs(study)
    assert list(frame.columns) == results.RUN_COLUMNS
    assert list(frame["run_id"]) == ["r1", "r2"] and str(frame["start"].dt.tz) == "UTC"
    derived = results.load_source(study, "derived")
    assert set(derived["arm"]) == {"baseline", "treatment"} and len(derived) == 2
    assert {"run_id", "pattern", "arm", "repeat", "metric", "value"} <= set(derived.columns)
    assert results.load_source(study, "derived", pattern="aa").empty


def test_a_run_id_is_never_overwritten(tmp_path):
    _run(tmp_path, "r1")
    with pytest.raises(results.ResultsError, match="already exists"):
        _run(tmp_path, "r1")


def test_latest_study_is_the_most_recently_created(tmp_path):
    assert results.latest_study(tmp_path) is None
    results.write_study(tmp_path / "b", results.StudyMeta.from_dict({"study": "b", "created": "2025-01-02T00:00:00+00:00"}))
    results.write_study(tmp_path / "a", results.StudyMeta.from_dict({"study": "a", "created": "2025-01-03T00:00:00+00:00"}))
    assert results.latest_study(tmp_path).name == "a"


def test_a_missing_study_says_what_to_do(tmp_path):
    with pytest.raises(results.ResultsError, match="sentinel-lab study"):
        results.load_study(tmp_path / "nope")


def test_a_study_json_written_by_an_earlier_version_still_reads(tmp_path):
    """study.json as the code before StudyMeta wrote it (no warmup_s, quick, started_stack), plus a key this
    version does not know: read with defaults, and the unknown key survives a rewrite."""
    study = tmp_path / "old"
    study.mkdir()
    (study / "study.json").write_text(json.dumps({
        "study": "old", "created": "2025-06-01T10:00:00+00:00", "patterns": ["redis-cache"], "stack": "local",
        "repeats": 5, "duration_s": 60, "absent": {"grafana": "Docker only"}, "not_measured": None,
        "rules": "/tmp/user-rules.yml"}))
    meta = results.load_study(study).meta
    assert (meta.study, meta.patterns, meta.repeats, meta.duration_s) == ("old", ["redis-cache"], 5, 60)
    assert (meta.warmup_s, meta.quick, meta.started_stack, meta.not_measured) == (15.0, False, False, {})
    results.write_study(study, meta)
    again = json.loads((study / "study.json").read_text())
    assert again["rules"] == "/tmp/user-rules.yml" and again["absent"] == {"grafana": "Docker only"}
    assert results.load_study(study).meta == meta


def test_measured_runs_leave_out_warmups_and_untrusted_runs(tmp_path):
    study = tmp_path / "s"
    results.write_study(study, results.StudyMeta(study="s", patterns=["redis-cache"]))
    for run_id, warmup, untrusted in (("w", True, False), ("a", False, False), ("u", False, True)):
        results.save_run(study, results.RunMeta(run_id, "s", "redis-cache", "baseline", 0, warmup=warmup,
                                                untrusted=untrusted, start=results.utc_now()), {})
    assert [r.run_id for r in results.load_study(study).measured_runs("redis-cache")] == ["a"]
