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
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pandas as pd

from analysis import alerts, deliveries, faults, load, results
from analysis import patterns as pats
from analysis.collect.base import values_frame
from analysis.collect.prometheus import Prometheus

USERS = 10  # background load while the faults play
USER, USER_RULES = "user", "user-rules.yml"  # --rules: the user's file, scored as rule set "user"
SEED_BASE = 1500  # timeline seed = SEED_BASE + repeat
DELIVERED = "(the whole set, as delivered)"  # rule_table's row of the set scored on Alertmanager's deliveries


@dataclass
class Played:
    """A timeline as it was played: the ground truth, the alerts' firing episodes (with when each was
    delivered, ``notified``), every alert Alertmanager delivered to the lab's receiver, what went wrong."""

    truth: pd.DataFrame
    episodes: pd.DataFrame
    start: datetime
    end: datetime
    workload: dict
    errors: list[str]
    deliveries: pd.DataFrame = field(default_factory=lambda: deliveries.frame([]))


def _dir(study, repeat: int):
    return study.dir / "timelines" / f"r{repeat}"


def _read(where: Path) -> Played:
    info = json.loads((where / "played.json").read_text())
    got = pd.read_parquet(where / "deliveries.parquet") if (where / "deliveries.parquet").exists() else None
    return Played(pd.read_parquet(where / "truth.parquet"), pd.read_parquet(where / "episodes.parquet"),
                  datetime.fromisoformat(info["start"]), datetime.fromisoformat(info["end"]),
                  info["workload"], info["errors"], deliveries.frame([]) if got is None else got)


def load_played(study_dir: Path) -> list[Played]:
    """Every timeline a study played, in repeat order (for reports)."""
    dirs = sorted((Path(study_dir) / "timelines").glob("r*/played.json"), key=lambda p: int(p.parent.name[1:]))
    return [_read(p.parent) for p in dirs]


def play(study, repeat: int, report=lambda line: None) -> Played:
    """The repeat's timeline: read if already played in this study, else played now and stored."""
    where = _dir(study, repeat)
    if (where / "played.json").exists():
        return _read(where)
    settings, cfg = study.settings, study.config
    timeline = faults.generate(SEED_BASE + repeat)
    workload = load.Workload("api", host=settings.url("nginx"), users=cfg.users or USERS, spawn_rate=USERS,
                             duration_s=timeline.length_s, options={"scale": cfg.seed_scale})
    stop, injected = threading.Event(), []
    with deliveries.Receiver(settings.host, settings.port("lab-receiver"), settings.secret("alert_token")) as inbox:
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
        # until the last scrapes are evaluated and a late notification can arrive, counted from the timeline's
        # end: Locust's start-up and shutdown have usually spent it already
        after = max(2 * settings.scrape_interval_s, deliveries.WAIT_S)
        time.sleep(max(0.0, (end - datetime.now(timezone.utc)).total_seconds() + after))
        delivered = inbox.frame()
        silent = None if len(delivered) else deliveries.why_empty(inbox)
    firing = Prometheus(settings.url("prometheus")).range(
        'ALERTS{alertstate="firing", ruleset!=""}', t0, end,
        step=f"{settings.scrape_interval_s}s")
    errors = [i.error for i in injected if i.error]
    if len(injected) < len(timeline.windows):
        errors.append(f"only {len(injected)} of {len(timeline.windows)} windows were played")
    eps = deliveries.match(alerts.episodes(firing, settings.scrape_interval_s), delivered)
    played = Played(faults.truth(timeline, injected, t0), eps, t0, end,
                    {**asdict(workload), "timeline_seed": timeline.seed, "probe_errors": [silent] if silent else []},
                    errors, delivered)
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
    played.deliveries.to_parquet(tmp / "deliveries.parquet")
    (tmp / "played.json").write_text(json.dumps({"start": played.start.isoformat(), "end": played.end.isoformat(),
                                                 "workload": played.workload, "errors": played.errors}, default=str))
    shutil.rmtree(where, ignore_errors=True)
    os.replace(tmp, where)


def install_user_rules(settings, path: Path) -> Path:
    """The user's rule file, labelled ``ruleset=user``, checked by promtool and loaded into the running
    Prometheus beside the lab's sets; returns where it went (``remove_user_rules`` takes it out)."""
    text = alerts.label_rules(Path(path).read_text())
    target = settings.run_dir / "config" / "prometheus" / "rules" / USER_RULES
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    done = subprocess.run(["promtool", "check", "rules", str(target)], capture_output=True, text=True)
    if done.returncode:
        target.unlink()
        raise ValueError(f"promtool rejects {path}: {(done.stdout + done.stderr).strip()[-600:]}")
    _reload(settings)
    return target


def remove_user_rules(settings) -> None:
    (settings.run_dir / "config" / "prometheus" / "rules" / USER_RULES).unlink(missing_ok=True)
    _reload(settings)


def _reload(settings) -> None:
    """Prometheus re-reads its rule files (if it runs: a stack started later reads them anyway)."""
    try:
        httpx.post(settings.url("prometheus") + "/-/reload", timeout=10).raise_for_status()
    except httpx.HTTPError:
        pass


def summaries(study_dir: Path) -> dict[str, dict[str, dict]]:
    """Per alert pattern of a study and per rule set it scores: recall, precision, time to detect
    (median, p90) and false alerts over every timeline, with 95 % intervals (for ``--json``)."""
    meta = results.load_study(study_dir).meta
    played, user = load_played(study_dir), (Path(study_dir) / "timelines" / USER_RULES).exists()
    out = {}
    for pid in meta.patterns:
        spec = pats.get(pid).backtest
        if spec is None or not played:
            continue
        treatment = USER if user and pid == "correlated-alerts" else spec.treatment
        out[pid] = {name: {**alerts.summary([alerts.score(p.truth, p.episodes, alerts.RULESETS[name], p.start)
                                             for p in played]), "delivered": delivered(played, name)}
                    for name in (spec.baseline, treatment, *spec.context)}
    return out


def delivered(played: list[Played], ruleset: str) -> dict:
    """The rule set scored on Alertmanager's deliveries over every timeline (``ttd_*`` is time to notify),
    with the episodes never delivered; not measured when a timeline's receiver got nothing."""
    silent = [p.workload.get("probe_errors") or ["no delivery recorded"] for p in played if not len(p.deliveries)]
    if silent:
        return {"measured": False, "reason": silent[0][0]}
    rs = alerts.RULESETS[ruleset]
    return {"measured": True, "deliveries_received": int(sum(len(p.deliveries) for p in played)),
            "undelivered_alerts": sum(deliveries.undelivered(p.truth, _matched(p), rs, p.start) for p in played),
            **alerts.summary([deliveries.score(p.truth, _matched(p), rs, p.start) for p in played])}


def rule_table(played: list[Played], rulesets: list[str]) -> pd.DataFrame:
    """Per rule set and per rule (alertname), over every timeline: recall, precision, time to detect
    (median), false alerts, with 95 % bootstrap intervals over windows within timelines; and the set
    as Alertmanager delivered it (``DELIVERED``: time to notify), when every timeline recorded deliveries."""
    rows = []
    for name in rulesets:
        rs = alerts.RULESETS[name]
        whole = [alerts.score(p.truth, p.episodes, rs, p.start) for p in played]
        rules = sorted({a for p in played for a in p.episodes.loc[p.episodes["ruleset"] == name, "alertname"]})
        delivered = [deliveries.score(p.truth, _matched(p), rs, p.start) for p in played] if all(
            len(p.deliveries) for p in played) else None  # time to detect is time to notify here
        for rule in [None, DELIVERED, *rules]:
            if rule == DELIVERED and delivered is None:
                continue
            scores = whole if rule is None else delivered if rule == DELIVERED else [
                alerts.score(p.truth, p.episodes[p.episodes["alertname"] == rule], rs, p.start) for p in played]
            s = alerts.summary(scores)
            rows.append({"ruleset": name, "rule": rule or "(the whole set)", "windows": s["windows"],
                         "alerts": s["alerts"], "false_alerts": s["false_alerts"],
                         **{f"{k}{suffix}": s[k][part] for k in ("recall", "precision", "ttd_p50_s")
                            for suffix, part in (("", "value"), ("_low", "ci_low"), ("_high", "ci_high"))}})
    return pd.DataFrame(rows)


def derived(played: Played, spec: alerts.Backtest, ruleset: str, scrape_s: float) -> tuple[pd.DataFrame, alerts.Score]:
    """The arm's per-run scalars: its rule set's score, the claim's bounds, the context sets' scores."""
    own = alerts.score(played.truth, played.episodes, alerts.RULESETS[ruleset], played.start)
    within = None
    if spec.detect_within_scrapes is not None:
        fors = alerts.rule_fors(spec.treatment)
        within = max(fors.values(), default=0.0) + spec.detect_within_scrapes * scrape_s
    values = {**alerts.values(own), **alerts.claim_values(own, spec, within),
              **deliveries.values(played.truth, _matched(played), len(played.deliveries), alerts.RULESETS[ruleset],
                                  played.start, spec)}
    for other in spec.context:
        values.update(alerts.values(alerts.score(played.truth, played.episodes, alerts.RULESETS[other], played.start),
                                    prefix=f"{other}_"))
    frame = values_frame(values)
    return frame, own


def _matched(played: Played) -> pd.DataFrame:
    """The episodes with their delivery times (a timeline stored before deliveries were collected: none)."""
    return played.episodes if "notified" in played.episodes else deliveries.match(played.episodes, played.deliveries)


def measure(study, step) -> tuple:
    """A study step of an alert pattern (``Pattern.backtest`` set): the run's meta and frames."""
    pattern = pats.get(step.pattern)
    spec = pattern.backtest
    if step.warmup:  # the timeline's lead-in is the warm-up; nothing to discard here
        now = datetime.now(timezone.utc)
        return study.new_meta(step, now, now, {}), {"derived": values_frame({})}
    played = play(study, step.repeat, report=lambda line: print(f"  fault: {line}", file=sys.stderr))
    if study.config.rules and not (study.dir / "timelines" / USER_RULES).exists():  # the record keeps them
        shutil.copyfile(study.config.rules, study.dir / "timelines" / USER_RULES)
    ruleset = USER if (step.arm == "treatment" and study.config.rules) else getattr(spec, step.arm)
    frame, own = derived(played, spec, ruleset, study.settings.scrape_interval_s)
    why = "; ".join(played.errors) or None
    meta = study.new_meta(step, played.start, played.end, {**played.workload, "ruleset": ruleset},
                          untrusted=bool(why), why=f"fault injection: {why}" if why else None)
    frames = {"timeline": played.truth, "alerts": played.episodes, "windows": own.windows, "derived": frame,
              "deliveries": played.deliveries}
    return meta, frames
