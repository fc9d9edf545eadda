"""Positive controls of the alert backtest on the real stack: faults injected for real fire the lab's
rules in the real Prometheus, and the scoring counts them as detected."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from analysis import alerts, deliveries, faults
from analysis.collect.prometheus import Prometheus

pytestmark = pytest.mark.integration


def _traffic(url: str, stop: threading.Event) -> None:
    """Background requests to the API through Nginx (unauthenticated: answered 401 by the API)."""
    with httpx.Client(base_url=url, timeout=5) as client:
        while not stop.wait(0.05):
            client.get("/api/v1/incidents")


def test_a_5xx_burst_and_a_slow_flood_fire_their_rules_and_are_scored(lab_stack):
    settings = lab_stack.settings
    timeline = faults.Timeline(0, (faults.Window("api-5xx", 4, 7, 0.5, False),
                                   faults.Window("slow-flood", 17, 6, 40, False)), 30.0, 2.0)
    stop = threading.Event()
    background = threading.Thread(target=_traffic, args=(settings.url("nginx"), stop), daemon=True)
    background.start()
    t0_mono, t0 = time.monotonic(), datetime.now(timezone.utc)
    try:
        with deliveries.Receiver(settings.host, settings.port("lab-receiver"), settings.secret("alert_token")) as inbox:
            injected = faults.inject(timeline, settings, lab_stack, t0_mono)
            time.sleep(max(0.0, t0_mono + timeline.length_s - time.monotonic()) + deliveries.WAIT_S)
    finally:
        stop.set()
        background.join(timeout=10)
    assert [i.error for i in injected] == [None, None]
    firing = Prometheus(settings.url("prometheus")).range('ALERTS{alertstate="firing", ruleset!=""}', t0,
                                                           t0 + timedelta(seconds=timeline.length_s), step="1s")
    got = inbox.frame()
    eps = deliveries.match(alerts.episodes(firing), got)
    truth = faults.truth(timeline, injected, t0)
    single = alerts.score(truth, eps, alerts.RULESETS["single"], t0)
    nginx = alerts.score(truth, eps, alerts.RULESETS["nginx"], t0)
    assert single.windows["detected"].all(), eps.to_string()
    assert "SingleApiErrorRate" in set(single.episodes["alertname"])
    assert nginx.windows["detected"].all() and "NginxSlowConnections" in set(nginx.episodes["alertname"])
    # the no-rules baseline of P8 sees nothing: the detection above is the rules', not the scoring's
    assert alerts.score(truth, eps, alerts.RULESETS["none"], t0).recall == 0.0

    # what Alertmanager delivered: the real route to the lab's receiver carried the alerts that fired
    assert inbox.refused == 0 and len(got), "Alertmanager delivered nothing to the lab's receiver"
    assert {"SingleApiErrorRate", "NginxSlowConnections"} <= set(got.loc[got["status"] == "firing", "alertname"])
    delivered = deliveries.score(truth, eps, alerts.RULESETS["nginx"], t0)
    assert delivered.recall == 1.0 and delivered.ttd(0.5) >= nginx.ttd(0.5)  # notified after it fired


def test_a_receiver_alertmanager_cannot_reach_records_nothing_so_deliveries_are_not_measured(lab_stack):
    """Positive control: the lab route broken on purpose (Alertmanager's token refused by the receiver)
    while a 5xx burst fires the rules: no delivery, and the delivery scores are left unmeasured."""
    settings = lab_stack.settings
    timeline = faults.Timeline(1, (faults.Window("api-5xx", 3, 6, 0.5, False),), 12.0, 2.0)
    stop = threading.Event()
    background = threading.Thread(target=_traffic, args=(settings.url("nginx"), stop), daemon=True)
    background.start()
    t0_mono, t0 = time.monotonic(), datetime.now(timezone.utc)
    try:
        with deliveries.Receiver(settings.host, settings.port("lab-receiver"), "not-alertmanagers-token") as inbox:
            injected = faults.inject(timeline, settings, lab_stack, t0_mono)
            time.sleep(max(0.0, t0_mono + timeline.length_s - time.monotonic()) + deliveries.WAIT_S)
    finally:
        stop.set()
        background.join(timeout=10)
    firing = Prometheus(settings.url("prometheus")).range('ALERTS{alertstate="firing", ruleset="single"}', t0,
                                                           t0 + timedelta(seconds=timeline.length_s), step="1s")
    assert not firing.empty, "the 5xx burst fired no rule: this control shows nothing"
    got = inbox.frame()
    assert got.empty
    values = deliveries.values(faults.truth(timeline, injected, t0), deliveries.match(alerts.episodes(firing), got),
                               len(got), alerts.RULESETS["single"], t0)
    assert values == {deliveries.CHECKS: (0.0, "alerts")}
