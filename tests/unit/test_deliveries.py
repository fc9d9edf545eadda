"""Alertmanager's deliveries: the lab's receiver, Alertmanager's route to it, and the delivery scores."""
from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
from datetime import datetime, timedelta, timezone

import httpx
import pandas as pd
import pytest
import yaml

from analysis import alerts, deliveries, faults, patterns
from analysis.settings import Settings
from analysis.stack.render import CONFIG_SRC, render_configs
from ports import free_port

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
TRUTH = faults.truth(*(lambda tl: (tl, [faults.Injected(w, w.start_s, w.end_s) for w in tl.windows], T0))(
    faults.Timeline(7, (faults.Window("http-flood", 20, 5, 1, False), faults.Window("load-spike", 40, 4, 1, True),
                        faults.Window("slow-flood", 60, 5, 1, False)), 100.0, 10.0)))
NGINX = alerts.RULESETS["nginx"]


def _at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def _eps(*rows) -> pd.DataFrame:
    return pd.DataFrame([(r, n, _at(s), _at(e)) for r, n, s, e in rows], columns=["ruleset", "alertname", "start", "end"])


def _got(*rows) -> pd.DataFrame:
    """(status, ruleset, alertname, startsAt s, arrival s) → a receiver's frame."""
    return deliveries.frame([deliveries.Delivery(_at(r), st, rs, n, _at(s), f"{rs}{n}") for st, rs, n, s, r in rows])


EPS = _eps(("nginx", "Flood", 23, 30), ("nginx", "Flood", 41, 44), ("nginx", "Slow", 63, 70))


def test_a_delivered_alert_scores_its_time_to_notify_and_an_undelivered_one_is_counted():
    # the flood's alert became pending at 21 s (startsAt), fired at 23 s, reached the receiver at 26 s;
    # the load spike's false alert arrived too; the slow flood's never did
    got = _got(("firing", "nginx", "Flood", 21, 26), ("firing", "nginx", "Flood", 40, 43),
               ("resolved", "nginx", "Flood", 21, 35))
    matched = deliveries.match(EPS, got)
    assert list(matched["notified"].isna()) == [False, False, True]
    assert matched.loc[0, "notified"] == _at(26) and matched.loc[1, "notified"] == _at(43)
    v = deliveries.values(TRUTH, matched, len(got), NGINX, T0, patterns.get("nginx-metrics").backtest)
    assert v["delivered_recall"][0] == 0.5 and v["delivered_precision"][0] == 0.5
    assert v["delivered_false_alerts"][0] == 1 and v["undelivered_alerts"][0] == 1
    assert v["ttn_p50_s"][0] == pytest.approx(6.0)  # from the window's start (20 s) to the arrival
    assert v["delivered_recall_shortfall"][0] == pytest.approx(0.4)
    assert v[deliveries.CHECKS][0] == 3
    # the rule-level score of the same episodes: both floods detected, earlier than notified
    rule = alerts.score(TRUTH, matched, NGINX, T0)
    assert rule.recall == 1.0 and rule.ttd(0.5) == pytest.approx(3.0)


def test_a_notification_belongs_to_the_episode_its_startsat_falls_in_not_the_previous_one():
    eps = _eps(("nginx", "Flood", 23, 26), ("nginx", "Flood", 29, 32))
    matched = deliveries.match(eps, _got(("firing", "nginx", "Flood", 27, 30)))  # pending at 27 s: the second
    assert matched["notified"].isna().tolist() == [True, False]


def test_with_no_delivery_the_scores_are_left_out_so_the_study_says_not_measured():
    v = deliveries.values(TRUTH, deliveries.match(EPS, deliveries.frame([])), 0, NGINX, T0)
    assert v == {deliveries.CHECKS: (0.0, "alerts")}
    for m in patterns.get("nginx-metrics").metrics:
        if m.name.startswith(("delivered_", "ttn_", "undelivered_")):
            assert m.checks == deliveries.CHECKS, m.name


@pytest.fixture()
def receiver():
    with deliveries.Receiver("127.0.0.1", free_port(), "s3cret") as r:
        yield r


def _url(r: deliveries.Receiver) -> str:
    host, port = r._server.server_address[:2]
    return f"http://{host}:{port}{deliveries.PATH}"


NOTIFICATION = {"version": "4", "status": "firing", "alerts": [
    {"status": "firing", "labels": {"alertname": "NginxSlowConnections", "ruleset": "nginx"},
     "startsAt": "2026-01-01T00:01:03.5Z", "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "ab"}]}


def test_the_receiver_records_each_alert_with_its_arrival_and_refuses_without_the_token(receiver):
    assert httpx.post(_url(receiver), json=NOTIFICATION).status_code == 401
    assert httpx.post(_url(receiver), json=NOTIFICATION, headers={"Authorization": "Bearer wrong"}).status_code == 401
    before = datetime.now(timezone.utc)
    ok = httpx.post(_url(receiver), json=NOTIFICATION, headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200
    got = receiver.frame()
    assert len(got) == 1 and receiver.refused == 2
    row = got.iloc[0]
    assert (row["alertname"], row["ruleset"], row["status"]) == ("NginxSlowConnections", "nginx", "firing")
    assert row["starts_at"] == pd.Timestamp("2026-01-01T00:01:03.5Z") and row["received"] >= before
    assert "refused 2" in deliveries.why_empty(receiver)


@pytest.mark.parametrize("body", [b"not json", b"{}", json.dumps({"alerts": [{"labels": {}}]}).encode(),
                                  json.dumps({"alerts": "x"}).encode()])
def test_a_body_that_is_not_a_notification_is_a_400_not_a_crash(receiver, body):
    r = httpx.post(_url(receiver), content=body, headers={"Authorization": "Bearer s3cret"})
    assert r.status_code == 400 and "notification" in r.json()["detail"]
    assert receiver.frame().empty


# ------------------------------------------------------------------ Alertmanager's route to it
@pytest.fixture(scope="module")
def local_config(tmp_path_factory):
    from analysis.stack.local import LocalStack

    tmp = tmp_path_factory.mktemp("am")
    settings = Settings(run_dir=tmp / "run")
    render_configs(CONFIG_SRC, tmp / "out", LocalStack(settings).provision.context({}), only={"alertmanager"})
    return settings, tmp / "out" / "alertmanager" / "alertmanager.yml"


def _routes(config, *labels: str) -> set[str]:
    if not shutil.which("amtool"):
        pytest.fail("amtool is not installed: run stack/local/install-deps.sh")
    out = subprocess.run(["amtool", "config", "routes", "test", f"--config.file={config}", *labels],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return set(re.split(r"[,\s]+", out.stdout.strip()))


def test_alerts_of_a_rule_set_under_test_reach_the_lab_receiver_and_the_remediator(local_config):
    settings, config = local_config
    assert _routes(config, "alertname=NginxRequestFlood", "ruleset=nginx") == {"lab", "remediator"}
    assert _routes(config, "alertname=ApiDown") == {"remediator"}  # the stack's own alerts: not the lab's
    lab = next(r for r in yaml.safe_load(config.read_text())["receivers"] if r["name"] == "lab")["webhook_configs"][0]
    assert lab["url"] == f"http://127.0.0.1:{settings.port('lab-receiver')}{deliveries.PATH}"
    assert lab["http_config"]["authorization"]["credentials_file"] == str(settings.secret_file("alert_token"))


# ------------------------------------------------------------------ the study's delivery rows
def _study(tmp_path, got: pd.DataFrame, probe_errors: list[str]) -> pd.DataFrame:
    """An nginx-metrics study of two timelines like TRUTH, each arm's runs derived as backtest.measure does."""
    from analysis import backtest, results, stats

    full = patterns.get("nginx-metrics")
    keep = ("recall_shortfall", "delivered_recall_shortfall", "delivered_recall", "ttn_p50_s", "undelivered_alerts")
    pattern = dataclasses.replace(full, metrics=tuple(m for m in full.metrics if m.name in keep),  # fewer bootstraps
                                  expectations=tuple(e for e in full.expectations if e.metric in keep))
    eps = deliveries.match(_eps(("nginx", "Flood", 23, 30), ("nginx", "Slow", 63, 70)), got)
    played = backtest.Played(TRUTH, eps, T0, _at(100), {"probe_errors": probe_errors}, [], got)
    study = tmp_path / "study"
    results.write_study(study, results.StudyMeta(study="study", patterns=[pattern.id]))
    for repeat in (0, 1):
        for arm in ("baseline", "treatment"):
            frame, _ = backtest.derived(played, pattern.backtest, getattr(pattern.backtest, arm), 1.0)
            meta = results.RunMeta(f"{pattern.id}-r{repeat}-{arm}", "study", pattern.id, arm, repeat,
                                   start=T0.isoformat(), workload=played.workload)
            results.save_run(study, meta, {"derived": frame})
    return pd.DataFrame(stats.compare_pattern(study, pattern)).set_index("metric")


def test_floods_whose_alerts_were_delivered_hold_the_delivery_claim(tmp_path):
    got = _got(("firing", "nginx", "Flood", 21, 26), ("firing", "nginx", "Slow", 61, 66))
    rows = _study(tmp_path, got, [])
    assert rows.loc["delivered_recall_shortfall", "verdict"] == "holds"
    assert rows.loc["delivered_recall", "treatment"] == 1.0 and rows.loc["delivered_recall", "baseline"] == 0.0
    # no rule, no notification: the baseline has no time to notify, so that row cannot compare arms
    assert rows.loc["ttn_p50_s", "verdict"] == "not measured" and "recorded no ttn_p50_s" in rows.loc["ttn_p50_s", "reason"]


def test_a_broken_receiver_route_leaves_the_delivery_rows_not_measured_not_passed(tmp_path):
    """Positive control: nothing reached the receiver (its route broken); the rule-level rows are
    still judged, every delivery row says not measured, with the receiver's own words."""
    why = "probe alert-deliveries: no notification reached the lab's receiver; it refused 3 request(s)"
    rows = _study(tmp_path, deliveries.frame([]), [why])
    assert rows.loc["recall_shortfall", "verdict"] == "holds"  # the rules did fire
    for metric in ("delivered_recall_shortfall", "delivered_recall", "ttn_p50_s", "undelivered_alerts"):
        assert rows.loc[metric, "verdict"] == "not measured", metric
        assert "refused 3" in rows.loc[metric, "reason"]
