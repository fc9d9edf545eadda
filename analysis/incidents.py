"""P3's incidents as data: curable fault classes, and each incident's time to recover split into stages.

An incident is one injected fault: its class, when it began, and when the lab saw the service
back at steady state (or the end of its window: right-censored). The remediator's audit trail
says when the alert fired (Prometheus' ``startsAt``), when Alertmanager's notification arrived
and when the action ran. Stages: detect (fault → firing), dispatch (firing → notification
received), act (action start → done), recover (action done → steady state). Censoring is
plain: an incident not recovered within its window counts its window as a lower bound of its
time to recover, and the share censored is reported beside every median (a median with more
than half censored is only known to exceed the window: it is reported as None).

With n8n in the stack (LAB_N8N=1) every curable alert also reaches n8n's P3 workflow, which asks the
model and calls the remediator's ``/actions`` with a reason naming the alert ("<alertname>: ..."): that
call's arrival, from the same firing, is the n8n path's dispatch, per incident beside the direct one.
Without n8n the path is not measured, and says so: never a number.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.alerts import interval
from stack.remediator.policy import Policy, Rule


@dataclass(frozen=True)
class FaultClass:
    """A fault an allow-listed action can cure, and the alert that detects it; the action that alert
    may cause is the remediator's policy's (stack/config/remediator/policy.yml), read from there."""

    name: str
    alertname: str

    @property
    def rule(self) -> Rule:
        return POLICY.rules[self.alertname]


POLICY = Policy.load()
CLASSES: dict[str, FaultClass] = {c.name: c for c in (
    FaultClass("worker-killed", "WorkerDown"),
    FaultClass("truthsync-killed", "TruthsyncInstanceDown"),
    FaultClass("api-error-mode", "ApiErrorMode"),
    FaultClass("cache-poisoned", "DashboardCachePoisoned"),
)}
STAGES = ("detect", "dispatch", "act", "recover")
#: an audit line names these for every decision; an incident whose lines lack one has an incomplete trail
TRAIL_FIELDS = ("fingerprint", "episode", "starts_at", "received_at", "action", "params", "outcome", "timestamp")
ACT_FIELDS = ("started_at", "finished_at", "act_ms")
#: the study's word on the n8n path when n8n was not in the stack
N8N_NOT_MEASURED = "n8n path: not measured (LAB_N8N=1 to measure)"
N8N_NOTHING_ARRIVED = ("n8n path: not measured: n8n was on but none of its workflow's decisions reached the "
                       "remediator (is the P3 workflow active? see n8n's log)")


@dataclass(frozen=True)
class IncidentPlan:
    """How many incidents of each class a run plays (quick and full studies), and their window."""

    quick_per_class: int = 5  # a quick study's incidents per class and arm, spread over its runs (2, 2, 1)
    rounds_full: int = 7  # with the default 6 repeats: 21 per class per arm, the ≥ 20 a full study needs
    window_s: float = 15.0  # a fault not recovered within this is censored; the lab then ends it itself
    cooldown_s: float = 4.0  # the remediator's cooldown in both arms: shorter than a round
    budget_per_h: int = 200  # the lab plays hours of incidents in minutes

    def rounds(self, repeat: int, runs: int, quick: bool) -> int:
        """Incidents of each class that run ``repeat`` (0-based) of ``runs`` per arm plays."""
        if not quick:
            return self.rounds_full
        return max(1, self.quick_per_class // runs + (repeat < self.quick_per_class % runs))


def _ts(values) -> pd.Series:
    return pd.to_datetime(pd.Series(values, dtype="object"), utc=True, format="ISO8601")


def match(incidents: pd.DataFrame, audit: pd.DataFrame, grace_s: float = 5.0, n8n: bool = False,
          n8n_model: str = "") -> pd.DataFrame:
    """Per incident (``kind``, ``start``, ``end``, ``recovered``): the audit decisions on its alert from
    its start to its end plus ``grace_s`` (or the next incident of its class), the first one's stages in seconds.
    With ``n8n`` (the stack ran it; ``n8n_model``: who answered its model calls) also the n8n path's
    first call on the alert in that span (:func:`_n8n_path`)."""
    rows = []
    audit = audit.copy()
    if len(audit):  # when a decision's request arrived: the notification's receipt, an action's start
        arrived = audit["received_at"].where(audit["received_at"].notna(), audit["started_at"])
        audit["at"] = _ts(arrived.where(arrived.notna(), audit["timestamp"]))
    incidents = incidents.sort_values("start", kind="stable")
    for i, inc in enumerate(incidents.itertuples(index=False)):
        cls = CLASSES[inc.kind]
        later = incidents["start"].iloc[i + 1:][incidents["kind"].iloc[i + 1:] == inc.kind]
        until = min([inc.end + pd.Timedelta(seconds=grace_s), *later.iloc[:1]])  # never the next incident's
        mine = (audit[(audit["alert"] == cls.alertname) & (audit["at"] >= inc.start)
                      & (audit["at"] < until)].sort_values("at")
                if len(audit) else audit)
        row = {**inc._asdict(), "alertname": cls.alertname, "decisions": len(mine),
               "actions": int((mine["outcome"] == "done").sum()) if len(mine) else 0}
        first = mine.iloc[0] if len(mine) else None
        acted = mine[mine["outcome"] == "done"].iloc[0] if row["actions"] else None
        firing = _ts([first["starts_at"]]).iloc[0] if first is not None and first.get("starts_at") else None
        sec = lambda a, b: None if a is None or b is None else (b - a).total_seconds()  # noqa: E731
        done_at = _ts([acted["finished_at"]]).iloc[0] if acted is not None else None
        row.update(outcome=first["outcome"] if first is not None else None,
                   detect_s=sec(inc.start, firing), dispatch_s=sec(firing, first["at"] if first is not None else None),
                   act_s=sec(_ts([acted["started_at"]]).iloc[0], done_at) if acted is not None else None,
                   recover_s=sec(done_at, inc.recovered) if inc.recovered is not None and not pd.isna(inc.recovered)
                   else None,
                   unsafe=int(sum(1 for e in mine[mine["outcome"] == "done"].itertuples()
                                  if (e.action, _params(e.params)) != cls.rule.key)),
                   trail_complete=_complete(mine))
        row.update(n8n_on=n8n, n8n_model=n8n_model if n8n else "",
                   **(_n8n_path(audit, cls.alertname, inc.start, until, firing) if n8n and len(audit) else
                      {"n8n_dispatch_s": None, "n8n_decision": None, "n8n_actions": 0}))
        rows.append(row)
    return pd.DataFrame(rows)


def _n8n_path(audit: pd.DataFrame, alertname: str, start, until, firing) -> dict:
    """The P3 workflow's first call on ``alertname`` between ``start`` and ``until``: its dispatch (firing →
    the call reached the remediator), its decision, and the actions it caused (record_only is none)."""
    calls = audit[(audit["source"] == "api") & audit["why"].fillna("").str.startswith(f"{alertname}: ")
                  & (audit["at"] >= start) & (audit["at"] < until)].sort_values("at")
    if not len(calls):
        return {"n8n_dispatch_s": None, "n8n_decision": None, "n8n_actions": 0}
    first = calls.iloc[0]
    acted = (calls["outcome"] == "done") & (calls["action"] != "record_only")
    return {"n8n_dispatch_s": (first["at"] - firing).total_seconds() if firing is not None else None,
            "n8n_decision": f"{first['action']} ({first['outcome']}): {first['why'][len(alertname) + 2:]}",
            "n8n_actions": int(acted.sum())}


def _params(value) -> tuple[tuple[str, str], ...]:
    """An audit line's parameters (stored as JSON text) as sorted pairs."""
    data = json.loads(value) if isinstance(value, str) else (value or {})
    return tuple(sorted((str(k), str(v)) for k, v in data.items()))


def _complete(decisions: pd.DataFrame) -> bool:
    """Every decision names every trail field; every action also its timings."""
    if not len(decisions):
        return False
    for e in decisions.to_dict("records"):
        need = TRAIL_FIELDS + (ACT_FIELDS if e.get("outcome") == "done" else ())
        if any(e.get(f) is None or (isinstance(e.get(f), float) and np.isnan(e.get(f))) for f in need):
            return False
    return True


def run_values(matched: pd.DataFrame) -> dict[str, tuple[float, str]]:
    """One run's scalars: manual share (incidents still there at the end of their window, which a person
    had to end; one that healed by itself needed nobody), time to recover (censored
    at the window), its stages' medians, and the safety counts the claims need to be 0."""
    if not len(matched):
        return {"incidents": (0, "incidents")}
    resolved = matched["censored"].eq(False)  # by the loop, or by itself: either way no person was needed
    ttr = matched["ttr_s"].astype(float)
    values = {"incidents": (len(matched), "incidents"), "censored": (int(matched["censored"].sum()), "incidents"),
              "manual_share": (1 - float(resolved.mean()), "share"),
              "ttr_p50_s": (float(ttr.median()), "s"), "ttr_p90_s": (float(ttr.quantile(0.9)), "s"),
              "unsafe_actions": (int(matched["unsafe"].sum()), "actions"),
              "double_actions": (int((matched["actions"] + _n8n_actions(matched) - 1).clip(lower=0).sum()),
                                 "actions"),
              "trail_incomplete": (int((~matched["trail_complete"].astype(bool)).sum()), "incidents"),
              "decisions": (int(matched["decisions"].sum()), "decisions")}
    for stage in STAGES:
        col = matched[f"{stage}_s"].dropna().astype(float)
        if len(col):
            values[f"{stage}_p50_s"] = (float(col.median()), "s")
    return values


def _n8n_actions(matched: pd.DataFrame) -> pd.Series:
    """Actions the n8n path caused per incident (0 without n8n, or in a study stored before it was measured)."""
    return matched["n8n_actions"].fillna(0).astype(int) if "n8n_actions" in matched else 0


def summary(per_run: list[pd.DataFrame]) -> dict:
    """Matched incidents of one arm over its runs, per fault class: incidents, censored, time to recover
    and each stage (median and p90, 95 % bootstrap intervals over incidents within runs)."""
    out = {}
    frames = [m for m in per_run if len(m)]
    kinds = sorted({k for m in frames for k in m["kind"]})
    for kind in [*kinds, "all"]:
        groups = [m if kind == "all" else m[m["kind"] == kind] for m in frames]
        n = int(sum(len(g) for g in groups))
        censored = int(sum(g["censored"].sum() for g in groups))
        entry = {"incidents": n, "censored": censored,
                 "resolved_without_a_person": int(sum((~g["censored"].astype(bool)).sum() for g in groups)),
                 "resolved_by_an_action": int(sum((~g["censored"].astype(bool) & g["actions"].gt(0)).sum()
                                                  for g in groups)),
                 "trail_complete_share": _r(sum(g["trail_complete"].sum() for g in groups) / n) if n else None}
        for col in ("ttr", *STAGES):
            data = [g[f"{col}_s"].dropna().to_numpy(float) for g in groups]
            entry[col] = _quantiles(data, censored if col == "ttr" else 0, n)
        entry["n8n_path"] = n8n_summary(groups)
        out[kind] = entry
    return out


def n8n_summary(groups: list[pd.DataFrame]) -> dict | str:
    """The n8n path next to the direct one over incidents played with n8n on: its dispatch, what it adds
    to the direct path's (paired per incident), how many incidents it reached, its decisions and actions.
    A sentence instead when n8n was off, or on but none of its calls arrived."""
    on = [g[g["n8n_on"].fillna(False).astype(bool)] for g in groups if "n8n_on" in g]
    on = [g for g in on if len(g)]
    if not on:
        return N8N_NOT_MEASURED
    reached = [g[g["n8n_dispatch_s"].notna()] for g in on]
    n, seen = sum(len(g) for g in on), sum(len(g) for g in reached)
    if not seen:
        return N8N_NOTHING_ARRIVED
    both = [g[g["dispatch_s"].notna()] for g in reached]
    return {"incidents": n, "reached": seen, "missing": n - seen,
            "model": sorted({m for g in on for m in g["n8n_model"]}),
            "decisions": {str(k): int(v) for k, v in pd.concat(reached)["n8n_decision"].value_counts().items()},
            "actions": int(sum(g["n8n_actions"].sum() for g in on)),
            "dispatch": _quantiles([g["n8n_dispatch_s"].to_numpy(float) for g in reached], 0, seen),
            "direct_dispatch": _quantiles([g["dispatch_s"].to_numpy(float) for g in both], 0, seen),
            "added_to_direct": _quantiles([(g["n8n_dispatch_s"] - g["dispatch_s"]).to_numpy(float) for g in both],
                                          0, seen)}


def _quantiles(groups: list[np.ndarray], censored: int, n: int) -> dict:
    pooled = np.concatenate(groups) if any(len(g) for g in groups) else np.array([])
    if not len(pooled):
        return {"p50": None, "p90": None}
    out = {}
    for name, q in (("p50", 0.5), ("p90", 0.9)):
        if censored and (n - censored) / n < q:  # the quantile lies among the censored: only a lower bound
            out[name] = {"value": None, "at_least": _r(float(np.max(pooled))), "ci_low": None, "ci_high": None}
            continue
        low, high = interval(groups, lambda x, q=q: np.quantile(x, q))
        out[name] = {"value": _r(float(np.quantile(pooled, q))), "ci_low": _r(low), "ci_high": _r(high)}
    return out


def _r(x: float) -> float | None:
    return None if x is None or np.isnan(x) else round(float(x), 3)
