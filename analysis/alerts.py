"""Backtest scoring: alert rules judged against a fault timeline's ground truth.

Each rule set is a ``ruleset`` label on the alerting rules in
``stack/config/prometheus/rules/``; all sets are loaded into one Prometheus, so
one timeline scores every set (paired). An alert's firing episode that starts
in a fault window (or the ``GRACE_S`` after it, cut at the next window's start)
is a true alert and detects that window; one that starts anywhere else (a benign
event or a fault-free stretch) is a false alert. An alert still firing from
before a window began does not detect it. Per rule set:
recall over the fault windows it is meant to catch, precision over its
episodes, time to detect, reset time, false alerts per fault-free hour, with
bootstrap intervals over windows within timelines.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from analysis.faults import FAULTS

GRACE_S = 4.0  # an alert this long after a fault ended still belongs to it
EPISODE_GAP_S = 2.0  # firing samples further apart than this are two episodes
RESAMPLES = 2000
API_FAULTS = ("api-5xx", "api-latency", "redis-down", "worker-stopped", "slow-postgres")
FLOODS = ("http-flood", "slow-flood")
RULES_DIR = Path(__file__).resolve().parent.parent / "stack" / "config" / "prometheus" / "rules"


@dataclass(frozen=True)
class RuleSet:
    """Alerting rules labelled ``ruleset=name``, and the fault classes they are meant to catch."""

    name: str
    covers: tuple[str, ...]


RULESETS: dict[str, RuleSet] = {r.name: r for r in (
    RuleSet("single", API_FAULTS),
    RuleSet("correlated", API_FAULTS),
    RuleSet("burnrate", API_FAULTS),
    RuleSet("nginx", FLOODS),
    RuleSet("none", FLOODS),  # no rules at all: P8's baseline
    RuleSet("user", tuple(FAULTS)),  # a rule file the user brings (--rules)
)}


@dataclass(frozen=True)
class Backtest:
    """What a pattern scores: the rule set of each arm, sets scored beside them (their values are
    prefixed with the set's name), and the claim's absolute bounds, as per-run counts that must be 0."""

    baseline: str
    treatment: str
    context: tuple[str, ...] = ()
    min_recall: float | None = None
    max_false_per_h: float | None = None
    detect_within_scrapes: int | None = None  # detection within the set's longest ``for:`` plus these scrapes


@dataclass
class Score:
    ruleset: str
    windows: pd.DataFrame  # per in-scope fault window: kind, start, detected, ttd_s, reset_s
    episodes: pd.DataFrame  # per firing episode: alertname, start, end, true
    fault_free_s: float

    @property
    def recall(self) -> float:
        return float(self.windows["detected"].mean()) if len(self.windows) else math.nan

    @property
    def precision(self) -> float:
        return float(self.episodes["true"].mean()) if len(self.episodes) else math.nan

    @property
    def false_alerts(self) -> int:
        return int((~self.episodes["true"].astype(bool)).sum()) if len(self.episodes) else 0

    @property
    def false_per_h(self) -> float:
        return self.false_alerts / (self.fault_free_s / 3600) if self.fault_free_s > 0 else math.nan

    def ttd(self, q: float) -> float:
        hit = self.windows.loc[self.windows["detected"], "ttd_s"]
        return float(hit.quantile(q)) if len(hit) else math.nan

    def reset(self, q: float = 0.5) -> float:
        hit = self.windows.loc[self.windows["detected"], "reset_s"]
        return float(hit.quantile(q)) if len(hit) else math.nan


# ------------------------------------------------------------------------------ episodes
def episodes(alerts: pd.DataFrame, step_s: float = 1.0) -> pd.DataFrame:
    """Firing samples of ``ALERTS`` (timestamp, alertname, ruleset) → one row per firing episode."""
    cols = ["ruleset", "alertname", "start", "end"]
    if alerts is None or alerts.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for (ruleset, name), g in alerts.sort_values("timestamp").groupby(["ruleset", "alertname"]):
        ts = list(g["timestamp"])
        start = prev = ts[0]
        for t in ts[1:]:
            if (t - prev).total_seconds() > EPISODE_GAP_S:
                rows.append((ruleset, name, start, prev + timedelta(seconds=step_s)))
                start = t
            prev = t
        rows.append((ruleset, name, start, prev + timedelta(seconds=step_s)))
    return pd.DataFrame(rows, columns=cols)


def score(truth: pd.DataFrame, eps: pd.DataFrame, ruleset: RuleSet, t0: datetime,
          grace_s: float = GRACE_S, detected_at: str = "start") -> Score:
    """Score one rule set's episodes against a timeline's ground truth (``Timeline.frame(t0)``);
    time to detect runs to the episodes' ``detected_at`` column (``notified``: time to notify)."""
    first = truth.iloc[0]
    scored_from, scored_to = t0 + timedelta(seconds=float(first["lead_in_s"])), t0 + timedelta(
        seconds=float(first["length_s"]))
    faults = _owned(truth, timedelta(seconds=grace_s))
    faults = faults[~faults["benign"].astype(bool)]
    mine = eps[(eps["ruleset"] == ruleset.name) & (eps["start"] >= scored_from) & (eps["start"] < scored_to)]
    mine = mine.assign(true=[bool(((faults["start"] <= e.start) & (e.start < faults["owned_to"])).any())
                             for e in mine.itertuples()])
    rows = []
    for w in faults[faults["kind"].isin(ruleset.covers)].itertuples():
        hits = mine[(mine["start"] >= w.start) & (mine["start"] < w.owned_to)]
        detected = bool(len(hits))
        rows.append({"kind": w.kind, "start": w.start, "detected": detected,
                     "ttd_s": max(0.0, (hits[detected_at].min() - w.start).total_seconds()) if detected else math.nan,
                     "reset_s": (hits["end"].max() - w.end).total_seconds() if detected else math.nan})
    busy = sum(((min(w.owned_to, scored_to) - max(w.start, scored_from)).total_seconds()
                for w in faults.itertuples()), 0.0)
    return Score(ruleset.name, pd.DataFrame(rows, columns=["kind", "start", "detected", "ttd_s", "reset_s"]),
                 mine.reset_index(drop=True), max(0.0, (scored_to - scored_from).total_seconds() - busy))


def _owned(truth: pd.DataFrame, grace: timedelta) -> pd.DataFrame:
    """``truth`` with ``owned_to``: an alert that starts from a window's start until then is the
    window's: its end plus the grace period, cut at the next window's start. So every alert has one
    owner however short the gaps or late a window (a restart that overran), and an alert already
    firing when a window began never counts as detecting it."""
    ordered = truth.sort_values("start").reset_index(drop=True)
    nxt = ordered["start"].shift(-1)
    owned = ordered["end"] + grace
    return ordered.assign(owned_to=owned.where(nxt.isna() | (owned <= nxt), nxt))


def values(s: Score, prefix: str = "") -> dict[str, tuple[float, str]]:
    """A score as per-run scalars for ``derived.parquet`` (undefined ones are left out)."""
    out = {"recall": (s.recall, "ratio"), "precision": (s.precision, "ratio"),
           "false_alerts": (s.false_alerts, "alerts"), "false_alerts_per_h": (s.false_per_h, "alerts/h"),
           "ttd_p50_s": (s.ttd(0.5), "s"), "ttd_p90_s": (s.ttd(0.9), "s"), "reset_p50_s": (s.reset(), "s"),
           "fault_windows": (len(s.windows), "windows"), "alerts_fired": (len(s.episodes), "alerts")}
    return {f"{prefix}{k}": v for k, v in out.items() if not (isinstance(v[0], float) and math.isnan(v[0]))}


def claim_values(s: Score, spec: Backtest, detect_within_s: float | None = None) -> dict[str, tuple[float, str]]:
    """The claim's absolute bounds as counts that must be 0 in every treatment run."""
    out = {}
    if spec.min_recall is not None and len(s.windows):
        out["recall_shortfall"] = (max(0.0, spec.min_recall - s.recall), "ratio")
    if detect_within_s is not None and len(s.windows):
        late = s.windows["detected"] & (s.windows["ttd_s"] > detect_within_s)
        out["late_detections"] = (float(late.sum()), "windows")
    if spec.max_false_per_h is not None and s.fault_free_s > 0:
        out["false_alerts_over_budget"] = (max(0.0, s.false_alerts - spec.max_false_per_h * s.fault_free_s / 3600),
                                           "alerts")
    return out


# ------------------------------------------------------------------------------ intervals
def interval(groups: list[np.ndarray], statistic=np.mean, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Bootstrap percentile interval of ``statistic`` over values grouped by timeline: timelines are
    resampled, then values within each, so the interval is over timelines as well as windows."""
    groups = [np.asarray(g, float) for g in groups if len(g)]
    if not groups:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    stats = np.empty(RESAMPLES)
    for i in range(RESAMPLES):
        picked = [groups[j] for j in rng.integers(0, len(groups), len(groups))]
        stats[i] = statistic(np.concatenate([g[rng.integers(0, len(g), len(g))] for g in picked]))
    tail = (1 - level) / 2 * 100
    return float(np.percentile(stats, tail)), float(np.percentile(stats, 100 - tail))


def summary(scores: list[Score]) -> dict:
    """One rule set over several timelines: pooled figures with intervals."""
    wins = [s.windows for s in scores]
    detected = [w["detected"].to_numpy(float) for w in wins]
    trues = [s.episodes["true"].to_numpy(float) for s in scores if len(s.episodes)]
    ttds = [w.loc[w["detected"], "ttd_s"].to_numpy(float) for w in wins]
    p90 = lambda x: np.quantile(x, 0.9)  # noqa: E731
    pooled = lambda gs: np.concatenate(gs) if any(len(g) for g in gs) else np.array([])  # noqa: E731
    num = lambda x: None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), 4)  # noqa: E731
    fault_free_h = sum(s.fault_free_s for s in scores) / 3600
    false = sum(s.false_alerts for s in scores)
    out = {"timelines": len(scores), "windows": int(sum(len(w) for w in wins)),
           "alerts": int(sum(len(s.episodes) for s in scores)), "false_alerts": false,
           "false_alerts_per_h": num(false / fault_free_h) if fault_free_h else None}
    for name, gs, stat in (("recall", detected, np.mean), ("precision", trues, np.mean),
                           ("ttd_p50_s", ttds, np.median), ("ttd_p90_s", ttds, p90)):
        data = pooled(gs)
        low, high = interval(gs, stat) if len(data) else (math.nan, math.nan)
        out[name] = {"value": num(stat(data)) if len(data) else None, "ci_low": num(low), "ci_high": num(high)}
    return out


# ------------------------------------------------------------------------------ rule files
def rule_fors(ruleset: str, rules_dir: Path = RULES_DIR) -> dict[str, float]:
    """alertname → its ``for:`` in seconds, for the rules labelled ``ruleset`` in ``rules_dir``."""
    out = {}
    for path in sorted(rules_dir.glob("*.yml")):
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups", []):
            for rule in group.get("rules", []):
                if rule.get("alert") and (rule.get("labels") or {}).get("ruleset") == ruleset:
                    out[rule["alert"]] = parse_for(str(rule.get("for", "0s")))
    return out


def parse_for(text: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for unit in ("ms", "s", "m", "h"):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * units[unit]
    raise ValueError(f"cannot read the duration {text!r} (e.g. 2s, 1m)")


def label_rules(text: str, ruleset: str = "user") -> str:
    """A user's rule file with ``ruleset`` set on every alerting rule, so it is scored as one set."""
    doc = yaml.safe_load(text) or {}
    if not isinstance(doc, dict) or not isinstance(doc.get("groups"), list):
        raise ValueError("not a Prometheus rule file: it needs a top-level `groups:` list")
    alerting = 0
    for group in doc["groups"]:
        group["name"] = f"{ruleset}-{group.get('name', 'rules')}"
        for rule in group.get("rules", []):
            if "alert" in rule:
                rule["labels"] = {**(rule.get("labels") or {}), "ruleset": ruleset}
                alerting += 1
    if not alerting:
        raise ValueError("the rule file has no alerting rule (`alert:`) to backtest")
    return yaml.safe_dump(doc, sort_keys=False)
