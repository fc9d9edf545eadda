"""The live first-start checks of `up --stack compose --check`, run against the local stack's real
Prometheus and Alertmanager (the checks take plain URLs; compose only changes the ports)."""
from __future__ import annotations

import time

import pytest

from analysis.stack import compose_check

pytestmark = pytest.mark.integration


def test_the_checks_pass_on_a_healthy_stack(lab_stack):
    settings = lab_stack.settings
    checks = [compose_check.services_healthy(lab_stack),
              compose_check.targets_up(settings.url("prometheus")),
              compose_check.alert_routed(settings.url("alertmanager"), {"remediator"})]
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]


def test_the_routing_check_sees_an_alert_that_misses_a_receiver(lab_stack):
    """Locally alerts go to the remediator only: asking for n8n too must fail and say where it went."""
    check = compose_check.alert_routed(lab_stack.settings.url("alertmanager"), compose_check.COMPOSE_RECEIVERS,
                                       timeout_s=3)
    assert not check.ok and "reached ['remediator']" in check.detail


def test_the_log_metric_check_sees_a_service_label_renamed_by_the_scrape(lab_stack):
    """mtail's counters carry no service label, so Prometheus labels them all service="mtail": the
    very shape Alloy's counters took in compose without honor_labels, which the check must catch."""
    deadline = time.monotonic() + 15  # mtail's first lines may still be on their way to a scrape
    while True:
        check = compose_check.log_metric_in_prometheus(lab_stack.settings.url("prometheus"))
        if "mtail" in check.detail or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert not check.ok and "mtail" in check.detail, check.detail
