"""The results store: one directory per study, one per run, Parquet per source.

A run is written under ``.<run_id>.tmp`` and renamed when every file is on
disk, so an interrupted study never leaves half a run that looks whole.
Loaders skip dot-directories and return frames; they never print.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

RUN_COLUMNS = ["run_id", "pattern", "arm", "repeat", "warmup", "start", "end", "untrusted"]


class ResultsError(RuntimeError):
    """The results store is missing something a caller asked for."""


@dataclass
class RunMeta:
    """Everything needed to rebuild a run's context from its directory (``meta.json``)."""

    run_id: str
    study: str
    pattern: str
    arm: str  # "baseline" | "treatment"
    repeat: int
    warmup: bool = False
    stack: str = "local"
    toggles: dict[str, str] = field(default_factory=dict)
    machine: dict = field(default_factory=dict)
    git_commit: str | None = None
    start: str | None = None  # ISO-8601 UTC
    end: str | None = None
    workload: dict = field(default_factory=dict)
    untrusted: bool = False
    untrusted_reason: str | None = None


@dataclass
class StudyMeta:
    """What ``study.json`` records: the study's settings and what could not be measured, with why."""

    study: str
    patterns: list[str] = field(default_factory=list)
    created: str | None = None  # ISO-8601 UTC
    stack: str = "local"
    repeats: int = 0
    duration_s: float = 0.0
    warmup_s: float = 15.0
    quick: bool = False
    absent: dict[str, str] = field(default_factory=dict)  # service → why it did not run
    not_measured: dict[str, str] = field(default_factory=dict)  # pattern → why it has no data
    started_stack: bool = False  # the study brought the stack up (its resume takes it down)
    sweep: dict | None = None  # a dose-response study: analysis.sweep.Sweep.record()
    extra: dict = field(default_factory=dict)  # keys this version does not know, kept as they were

    @classmethod
    def from_dict(cls, data: dict) -> "StudyMeta":
        """A ``study.json`` as any version wrote it: missing keys take their defaults, unknown ones are kept."""
        known = {f.name for f in fields(cls)} - {"extra"}
        values = {k: v for k, v in data.items() if k in known}
        values["absent"], values["not_measured"] = values.get("absent") or {}, values.get("not_measured") or {}
        return cls(**values, extra={k: v for k, v in data.items() if k not in known})

    def to_dict(self) -> dict:
        data = asdict(self)
        return {**data.pop("extra"), **data}


@dataclass
class StudyRecord:
    """A study as stored: its ``study.json`` and the metadata of every complete run."""

    path: Path
    meta: StudyMeta
    runs: list[RunMeta]

    def measured_runs(self, pattern_id: str) -> list[RunMeta]:
        """The runs of ``pattern_id`` the statistics use: complete, trusted, not warm-ups."""
        return [r for r in self.runs if r.pattern == pattern_id and not r.warmup and not r.untrusted]


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def write_json_atomic(path: Path, data: dict) -> None:
    """Write ``data`` to a sibling temporary file, fsync, then rename over ``path``."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2, default=str)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_study(study_dir: Path, meta: StudyMeta) -> None:
    study_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(study_dir / "study.json", meta.to_dict())


def save_run(study_dir: Path, meta: RunMeta, frames: dict[str, pd.DataFrame]) -> Path:
    """Store one complete run: ``meta.json`` plus ``<source>.parquet`` per frame; atomic."""
    final = Path(study_dir) / meta.run_id
    if final.exists():
        raise ResultsError(f"run {meta.run_id} already exists in {study_dir}; pick a new run id")
    tmp = Path(study_dir) / f".{meta.run_id}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for source, frame in frames.items():
        if frame is not None:
            frame.to_parquet(tmp / f"{source}.parquet", index=False)
    write_json_atomic(tmp / "meta.json", asdict(meta))
    os.replace(tmp, final)
    return final


def _run_dirs(study_dir: Path) -> list[Path]:
    return sorted(p for p in Path(study_dir).iterdir()
                  if p.is_dir() and not p.name.startswith(".") and (p / "meta.json").exists())


def _read_meta(run_dir: Path) -> RunMeta:
    return RunMeta(**json.loads((run_dir / "meta.json").read_text()))


def load_study(study_dir: Path) -> StudyRecord:
    study_dir = Path(study_dir)
    if not (study_dir / "study.json").exists():
        raise ResultsError(f"{study_dir} holds no study.json; run `sentinel-lab study` or pick another study")
    meta = StudyMeta.from_dict(json.loads((study_dir / "study.json").read_text()))
    return StudyRecord(study_dir, meta, [_read_meta(d) for d in _run_dirs(study_dir)])


def runs(study_dir: Path) -> pd.DataFrame:
    """One row per complete run, ordered by start time."""
    rows = [{k: getattr(m, k) for k in RUN_COLUMNS} for m in load_study(study_dir).runs]
    frame = pd.DataFrame(rows, columns=RUN_COLUMNS)
    for col in ("start", "end"):
        frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame.sort_values("start", kind="stable").reset_index(drop=True)


def load_source(study_dir: Path, source: str, pattern: str | None = None) -> pd.DataFrame:
    """``<source>.parquet`` of every complete run, concatenated, with run_id/pattern/arm/repeat added."""
    parts = []
    for run_dir in _run_dirs(Path(study_dir)):
        meta = _read_meta(run_dir)
        path = run_dir / f"{source}.parquet"
        if (pattern is not None and meta.pattern != pattern) or not path.exists():
            continue
        frame = pd.read_parquet(path)
        frame.insert(0, "run_id", meta.run_id)
        frame.insert(1, "pattern", meta.pattern)
        frame.insert(2, "arm", meta.arm)
        frame.insert(3, "repeat", meta.repeat)
        frame.insert(4, "warmup", meta.warmup)
        parts.append(frame)
    if not parts:
        return pd.DataFrame(columns=["run_id", "pattern", "arm", "repeat", "warmup"])
    return pd.concat(parts, ignore_index=True)


def latest_study(results_dir: Path) -> Path | None:
    """The most recently created study in ``results_dir`` (by ``study.json`` ``created``)."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        return None
    studies = [p for p in results_dir.iterdir() if (p / "study.json").exists() and not p.name.startswith(".")]
    if not studies:
        return None
    return max(studies, key=lambda p: (json.loads((p / "study.json").read_text()).get("created", ""), p.name))


def clean_partial_runs(study_dir: Path) -> list[str]:
    """Remove ``.<run>.tmp`` leftovers of an interrupted study; returns their names."""
    removed = []
    for p in Path(study_dir).glob(".*.tmp"):
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p.name)
    return removed
