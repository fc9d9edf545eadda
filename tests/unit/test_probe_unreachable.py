"""A probe that cannot reach the stack reports only its check count and its error (its metrics are
then not measured); it never reports zero missed notifications or zero unaccounted tasks."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from analysis.probes import CeleryTasks, NotifyLatency, ProbeContext
from analysis.settings import Settings
from analysis.stack import toggles
from analysis.stack.health import port_in_use


def _nowhere() -> ProbeContext:
    """A stack on a port range where nothing listens."""
    for base in range(1000, 10000, 1000):
        settings = Settings.from_env(port_base=base)
        if not any(port_in_use(settings.host, settings.port(s)) for s in ("nginx", "worker", "redis", "postgres")):
            now = datetime.now(timezone.utc)
            return ProbeContext(settings, toggles.defaults(), "small", start=now, end=now)
    pytest.skip("every port range below 10000 has something listening")


@pytest.mark.parametrize("probe", [NotifyLatency(every_s=0.05), CeleryTasks(rate_per_s=5)],
                         ids=["notify-latency", "celery-tasks"])
def test_an_unreachable_stack_is_an_error_not_a_zero(probe):
    ctx = _nowhere()
    probe.start(ctx)
    values = probe.finish(ctx)
    assert probe.error and set(values) == {probe.checks}
