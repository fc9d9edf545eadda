"""The alert patterns' runs: a fault timeline played over the API load, rules scored against it.

Every rule set is loaded into the one Prometheus at once, so a timeline is
played once per repeat and shared by every arm and every alert pattern of the
study (stored under ``<study>/timelines/r<repeat>/``): baseline and treatment
rule sets are scored on the very same faults (paired), and the repeats are
independent timelines (seeded by the repeat, so reproducible).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone

import pandas as pd

from analysis import alerts, faults, load
from analysis import patterns as pats
from analysis.collect.prometheus import Prometheus

USERS = 10  # background load while the faults play
SEED_BASE = 1500  # timeline seed = SEED_BASE + repeat


@dataclass
class Played:
    """A timeline as it was played: the ground truth, the alerts' firing episodes, what went wrong."""

    truth: pd.DataFrame
    episodes: pd.DataFrame
    start: datetime
    end: datetime
    workload: dict
    errors: list[str]


def _dir(study, repeat: int):
    return study.dir / "timelines" / f"r{repeat}"


def play(study, repeat: int, report=lambda line: None) -> Played:
    """The repeat's timeline: read if already played in this study, else played now and stored."""
    where = _dir(study, repeat)
    if (where / "played.json").exists():
        info = json.loads((where / "played.json").read_text())
        return Played(pd.read_parquet(where / "truth.parquet"), pd.read_parquet(where / "episodes.parquet"),
                      datetime.fromisoformat(info["start"]), datetime.fromisoformat(info["end"]),
                      info["workload"], info["errors"])
    settings, cfg = study.settings, study.config
    timeline = faults.generate(SEED_BASE + repeat)
    workload = load.Workload("api", host=settings.url("nginx"), users=cfg.users or USERS, spawn_rate=USERS,
                             duration_s=timeline.length_s, options={"scale": cfg.seed_scale})
    stop, injected = threading.Event(), []
    t0_mono, t0 = time.monotonic(), datetime.now(timezone.utc)
    player = threading.Thread(target=lambda: injected.extend(faults.inject(
        timeline, settings, study.stack, t0_mono, cfg.seed_scale, stop, report)), daemon=True, name="faults")
    player.start()
    try:
        result = load.run(workload, run_dir=settings.run_dir / "load" / cfg.study_id / f"timeline-r{repeat}",
                          progress=False)
    finally:
        stop.set()
        player.join(timeout=60)
    if result.interrupted:
        raise KeyboardInterrupt
    end = t0 + timedelta(seconds=timeline.length_s)
    time.sleep(max(0.0, (end - datetime.now(timezone.utc)).total_seconds()) + 2 * settings.scrape_interval_s)
    firing = Prometheus(settings.url("prometheus")).range(
        'ALERTS{alertstate="firing", ruleset!=""}', t0, end,
        step=f"{settings.scrape_interval_s}s")
    errors = [i.error for i in injected if i.error]
    if len(injected) < len(timeline.windows):
        errors.append(f"only {len(injected)} of {len(timeline.windows)} windows were played")
    played = Played(faults.truth(timeline, injected, t0), alerts.episodes(firing, settings.scrape_interval_s),
                    t0, end, {**asdict(workload), "timeline_seed": timeline.seed}, errors)
    if result.untrusted:
        played.errors.append(f"load generator: {result.untrusted_reason}")
    _store(where, played)
    return played


def _store(where, played: Played) -> None:
    tmp = where.with_name(f".{where.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    played.truth.to_parquet(tmp / "truth.parquet")
    played.episodes.to_parquet(tmp / "episodes.parquet")
    (tmp / "played.json").write_text(json.dumps({"start": played.start.isoformat(), "end": played.end.isoformat(),
                                                 "workload": played.workload, "errors": played.errors}, default=str))
    shutil.rmtree(where, ignore_errors=True)
    os.replace(tmp, where)


def derived(played: Played, spec: alerts.Backtest, ruleset: str, scrape_s: float) -> tuple[pd.DataFrame, alerts.Score]:
    """The arm's per-run scalars: its rule set's score, the claim's bounds, the context sets' scores."""
    own = alerts.score(played.truth, played.episodes, alerts.RULESETS[ruleset], played.start)
    within = None
    if spec.detect_within_scrapes is not None:
        fors = alerts.rule_fors(spec.treatment)
        within = max(fors.values(), default=0.0) + spec.detect_within_scrapes * scrape_s
    values = {**alerts.values(own), **alerts.claim_values(own, spec, within)}
    for other in spec.context:
        values.update(alerts.values(alerts.score(played.truth, played.episodes, alerts.RULESETS[other], played.start),
                                    prefix=f"{other}_"))
    frame = pd.DataFrame([{"metric": k, "value": float(v), "unit": u} for k, (v, u) in values.items()],
                         columns=["metric", "value", "unit"])
    return frame, own


def measure(study, step) -> tuple:
    """A study step of an alert pattern (``Pattern.backtest`` set): the run's meta and frames."""
    pattern = pats.get(step.pattern)
    spec = pattern.backtest
    if step.warmup:  # the timeline's lead-in is the warm-up; nothing to discard here
        now = datetime.now(timezone.utc)
        return study.new_meta(step, now, now, {}), {"derived": pd.DataFrame(columns=["metric", "value", "unit"])}
    played = play(study, step.repeat, report=lambda line: print(f"  fault: {line}", file=sys.stderr))
    ruleset = getattr(spec, step.arm)
    frame, own = derived(played, spec, ruleset, study.settings.scrape_interval_s)
    why = "; ".join(played.errors) or None
    meta = study.new_meta(step, played.start, played.end, {**played.workload, "ruleset": ruleset},
                          untrusted=bool(why), why=f"fault injection: {why}" if why else None)
    frames = {"timeline": played.truth, "alerts": played.episodes, "windows": own.windows, "derived": frame}
    return meta, frames
