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
    results.write_study(tmp_path / "s1", {"study": "s1", "created": results.utc_now(), "patterns": ["redis-cache"]})
    path = _run(tmp_path / "s1", "r1")
    assert sorted(p.name for p in path.iterdir()) == ["derived.parquet", "meta.json"]
    meta = json.loads((path / "meta.json").read_text())
    assert meta["arm"] == "baseline" and meta["toggles"] == {"SENTINEL_CACHE": "off"} and meta["untrusted"] is False


def test_loaders_ignore_half_written_runs(tmp_path):
    study = tmp_path / "s1"
    results.write_study(study, {"study": "s1", "created": results.utc_now(), "patterns": []})
    _run(study, "r1")
    half = study / ".r2.tmp"
    half.mkdir()
    (half / "meta.json").write_text("{}")
    assert list(results.runs(study)["run_id"]) == ["r1"]
    assert results.clean_partial_runs(study) == [".r2.tmp"] and not half.exists()


def test_runs_and_sources_come_back_as_one_frame_across_the_study(tmp_path):
    study = tmp_path / "s1"
    results.write_study(study, {"study": "s1", "created": results.utc_now(), "patterns": ["redis-cache"]})
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
    results.write_study(tmp_path / "b", {"study": "b", "created": "2025-01-02T00:00:00+00:00"})
    results.write_study(tmp_path / "a", {"study": "a", "created": "2025-01-03T00:00:00+00:00"})
    assert results.latest_study(tmp_path).name == "a"


def test_a_missing_study_says_what_to_do(tmp_path):
    with pytest.raises(results.ResultsError, match="sentinel-lab study"):
        results.load_study(tmp_path / "nope")
