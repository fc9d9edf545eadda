"""Time to recover split into stages, from the incidents the lab played and the remediator's audit trail."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pandas as pd

from analysis import alerts, incidents

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)


def _at(s: float) -> str:
    return (T0 + timedelta(seconds=s)).isoformat()


def _incident(kind: str, start: float, recovered: float | None, window: float = 12.0) -> dict:
    return {"kind": kind, "start": T0 + timedelta(seconds=start), "end": T0 + timedelta(seconds=start + window),
            "recovered": None if recovered is None else T0 + timedelta(seconds=recovered),
            "censored": recovered is None, "ttr_s": window if recovered is None else recovered - start}


def _decision(alert: str, fired: float, received: float, outcome: str = "done", acted=(None, None),
              action: str = "restart_service", params=None, **over) -> dict:
    entry = {"timestamp": _at(received + 0.01), "source": "alertmanager", "alert": alert, "action": action,
             "params": json.dumps(params if params is not None else {"service": "api"}), "why": "policy rule",
             "mode": "on", "outcome": outcome, "detail": "", "fingerprint": "fp", "episode": f"fp@{_at(fired)}",
             "starts_at": _at(fired), "received_at": _at(received),
             "started_at": _at(acted[0]) if acted[0] is not None else None,
             "finished_at": _at(acted[1]) if acted[1] is not None else None,
             "act_ms": (acted[1] - acted[0]) * 1000 if acted[0] is not None else None}
    entry.update(over)
    return entry


def _audit(*entries) -> pd.DataFrame:
    return pd.DataFrame(list(entries), columns=list(_decision("A", 0, 0).keys()))


def test_an_acted_incident_splits_into_detect_dispatch_act_recover():
    played = pd.DataFrame([_incident("api-error-mode", 0, 9.0)])
    audit = _audit(_decision("ApiErrorMode", 3.0, 4.0, acted=(4.1, 6.1)))
    row = incidents.match(played, audit).iloc[0]
    assert (row.detect_s, row.dispatch_s, row.act_s, row.recover_s) == (3.0, 1.0, 2.0, 2.9)
    assert row.actions == 1 and row.unsafe == 0 and row.trail_complete
    values = incidents.run_values(incidents.match(played, audit))
    assert values["manual_share"][0] == 0.0 and values["double_actions"][0] == 0


def test_a_censored_incident_needs_a_person_and_counts_its_window():
    played = pd.DataFrame([_incident("worker-killed", 0, None), _incident("worker-killed", 20, 25)])
    audit = _audit(_decision("WorkerDown", 2, 3, outcome="skipped", params={"service": "worker"}),
                   _decision("WorkerDown", 22, 23, acted=(23, 24), params={"service": "worker"}))
    matched = incidents.match(played, audit)
    values = incidents.run_values(matched)
    assert values["manual_share"][0] == 0.5 and values["censored"][0] == 1
    assert list(matched["ttr_s"]) == [12.0, 5.0]


def test_an_action_other_than_the_policy_s_and_a_second_action_are_counted():
    played = pd.DataFrame([_incident("api-error-mode", 0, 9.0)])
    audit = _audit(_decision("ApiErrorMode", 3, 4, acted=(4, 5)),
                   _decision("ApiErrorMode", 3, 6, acted=(6, 7), params={"service": "postgres"}))
    values = incidents.run_values(incidents.match(played, audit))
    assert values["unsafe_actions"][0] == 1 and values["double_actions"][0] == 1


def test_an_incident_without_an_audit_line_or_with_a_gap_in_it_has_an_incomplete_trail():
    played = pd.DataFrame([_incident("api-error-mode", 0, 9.0), _incident("cache-poisoned", 30, 35)])
    audit = _audit(_decision("DashboardCachePoisoned", 32, 33, acted=(33, 33.1), action="flush_cache", params={},
                             fingerprint=None))
    matched = incidents.match(played, audit)
    assert list(matched["trail_complete"]) == [False, False]
    assert incidents.run_values(matched)["trail_incomplete"][0] == 2


def test_a_median_among_censored_incidents_is_only_a_lower_bound():
    runs = [pd.DataFrame([_incident("worker-killed", 0, None), _incident("worker-killed", 20, None),
                          _incident("worker-killed", 40, 45)]).assign(actions=0, trail_complete=True,
                                                                      detect_s=2.0, dispatch_s=1.0, act_s=None,
                                                                      recover_s=None)]
    s = incidents.summary(runs)["worker-killed"]
    assert s["incidents"] == 3 and s["censored"] == 2 and s["resolved_without_a_person"] == 1
    assert s["resolved_by_an_action"] == 0
    assert s["ttr"]["p50"]["value"] is None and s["ttr"]["p50"]["at_least"] == 12.0
    assert s["detect"]["p50"]["value"] == 2.0


def test_a_decision_on_the_next_incident_of_the_class_is_not_counted_twice():
    played = pd.DataFrame([_incident("worker-killed", 0, None), _incident("worker-killed", 14, 20)])
    audit = _audit(_decision("WorkerDown", 2, 3, acted=(3, 4), params={"service": "worker"}),
                   _decision("WorkerDown", 16, 16.5, acted=(16.5, 17), params={"service": "worker"}))
    matched = incidents.match(played, audit)
    assert list(matched["actions"]) == [1, 1] and incidents.run_values(matched)["double_actions"][0] == 0


def test_every_fault_class_has_an_alert_rule_and_a_policy_rule_that_acts():
    rules = "".join(p.read_text() for p in alerts.RULES_DIR.glob("*.yml"))
    for cls in incidents.CLASSES.values():
        assert f"alert: {cls.alertname}\n" in rules
        assert cls.rule.action in ("restart_service", "flush_cache")


def test_the_audit_reader_keeps_the_window_and_skips_a_torn_line(tmp_path):
    from analysis.collect import remediation_audit

    lines = [json.dumps({**_decision("WorkerDown", s, s), "params": {"service": "worker"}}) for s in (1, 5, 9)]
    (tmp_path / remediation_audit.FILE).write_text("\n".join(lines) + '\n{"timestamp": "2026-12')
    frame = remediation_audit.read(tmp_path, T0 + timedelta(seconds=4), T0 + timedelta(seconds=9))
    assert len(frame) == 1 and json.loads(frame["params"].iloc[0]) == {"service": "worker"}


# ------------------------------------------------------------------ the n8n path beside the direct one
def _n8n_call(alert: str, at: float, action: str = "record_only", outcome: str = "done",
              why: str = "the LLM suggested record_only") -> dict:
    """What the remediator audits when the P3 workflow calls /actions (source api, the alert in the reason)."""
    return _decision("", 0, 0, outcome=outcome, action=action, params={} if action == "record_only" else None,
                     acted=(at, at + 0.01), source="api", why=f"{alert}: {why}", fingerprint=None,
                     episode=None, starts_at=None, received_at=None)


def test_with_n8n_on_each_incident_gets_the_n8n_path_s_dispatch_next_to_the_direct_one():
    played = pd.DataFrame([_incident("api-error-mode", 0, 9.0), _incident("worker-killed", 1, 8.0)])
    audit = _audit(_decision("ApiErrorMode", 3.0, 4.0, acted=(4.1, 6.1)),
                   _n8n_call("ApiErrorMode", 5.5),
                   _decision("WorkerDown", 3.0, 4.5, acted=(4.5, 5.5), params={"service": "worker"}),
                   _n8n_call("WorkerDown", 6.0, why="the suggested action is not allow-listed"),
                   _n8n_call("TargetDown", 3.5))  # another alert's call: nobody's incident
    matched = incidents.match(played, audit, n8n=True, n8n_model="a test double")
    api, worker = matched.iloc[0], matched.iloc[1]
    assert (api.dispatch_s, api.n8n_dispatch_s) == (1.0, 2.5)
    assert (worker.dispatch_s, worker.n8n_dispatch_s) == (1.5, 3.0)
    assert worker.n8n_decision == "record_only (done): the suggested action is not allow-listed"
    assert list(matched["n8n_actions"]) == [0, 0]  # record_only changes nothing
    s = incidents.summary([matched])["all"]["n8n_path"]
    assert (s["incidents"], s["reached"], s["missing"], s["actions"], s["model"]) == (2, 2, 0, 0, ["a test double"])
    assert s["dispatch"]["p50"]["value"] == 2.75 and s["direct_dispatch"]["p50"]["value"] == 1.25
    assert s["added_to_direct"]["p50"]["value"] == 1.5
    assert incidents.run_values(matched)["double_actions"][0] == 0


def test_without_n8n_the_n8n_path_is_not_measured_never_a_number():
    played = pd.DataFrame([_incident("api-error-mode", 0, 9.0)])
    audit = _audit(_decision("ApiErrorMode", 3.0, 4.0, acted=(4.1, 6.1)), _n8n_call("ApiErrorMode", 5.5))
    matched = incidents.match(played, audit)  # a stray call in the trail does not make n8n "on"
    assert matched.iloc[0].n8n_dispatch_s is None
    assert incidents.summary([matched])["api-error-mode"]["n8n_path"] == incidents.N8N_NOT_MEASURED
    old = matched.drop(columns=["n8n_on", "n8n_model", "n8n_dispatch_s", "n8n_decision", "n8n_actions"])
    assert incidents.summary([old])["all"]["n8n_path"] == incidents.N8N_NOT_MEASURED  # a study stored before


def test_positive_control_n8n_on_but_none_of_its_calls_arrived_is_not_measured():
    played = pd.DataFrame([_incident("api-error-mode", 0, 9.0)])
    matched = incidents.match(played, _audit(_decision("ApiErrorMode", 3.0, 4.0, acted=(4.1, 6.1))), n8n=True)
    assert incidents.summary([matched])["all"]["n8n_path"] == incidents.N8N_NOTHING_ARRIVED


def test_an_action_the_n8n_path_took_on_top_of_the_direct_one_is_a_double_action():
    played = pd.DataFrame([_incident("api-error-mode", 0, 9.0)])
    audit = _audit(_decision("ApiErrorMode", 3.0, 4.0, acted=(4.1, 6.1)),
                   _n8n_call("ApiErrorMode", 6.5, action="restart_service", why="the LLM suggested restart_service"))
    matched = incidents.match(played, audit, n8n=True)
    assert matched.iloc[0].n8n_actions == 1 and incidents.run_values(matched)["double_actions"][0] == 1


def test_a_quick_study_plays_exactly_five_incidents_of_each_class_per_arm_and_a_full_one_twenty_or_more():
    from analysis import patterns as pats
    from analysis.experiment import schedule

    pattern = pats.get("auto-remediation")
    plan = pattern.incidents
    for repeats in (1, 2, 3, 4):
        steps = [s for s in schedule([pattern.id], repeats, quick=True) if s.arm == "baseline" and not s.warmup]
        runs = pattern.runs_per_arm(repeats, True)
        assert len(steps) == runs and sum(plan.rounds(s.repeat, runs, True) for s in steps) == 5
    assert [plan.rounds(r, 3, True) for r in range(3)] == [2, 2, 1]
    assert sum(plan.rounds(r, 6, False) for r in range(6)) >= 20
