"""A probe that could not look reports no judged value, and the burst probe's window count is honest."""
from __future__ import annotations

import numpy as np

from analysis.probes import Probe, ProbeContext, most_within
from analysis.settings import Settings

CTX = ProbeContext(Settings(), {})


class Counting(Probe):
    """A probe that makes ``n`` checks in its thread, then raises ``boom`` if given."""

    background = True
    checks = "things_checked"

    def __init__(self, n: int, boom: Exception | None = None):
        super().__init__()
        self.n, self.boom, self.made = n, boom, 0

    def work(self, ctx):
        self.made = self.n
        if self.boom:
            raise self.boom

    def values(self, ctx):
        return {"things_checked": (self.made, "checks"), "things_wrong": (0, "things")}


def _finish(probe: Probe):
    probe.start(CTX)
    return probe.finish(CTX)


def test_a_probe_that_checked_reports_its_values():
    probe = Counting(3)
    assert _finish(probe) == {"things_checked": (3, "checks"), "things_wrong": (0, "things")}
    assert probe.error is None


def test_an_error_in_a_probe_thread_withholds_the_judged_values_and_says_why():
    probe = Counting(3, boom=ConnectionError("login refused"))
    assert _finish(probe) == {"things_checked": (3, "checks")}
    assert probe.error == "ConnectionError: login refused"


def test_a_probe_that_made_no_checks_is_not_a_pass():
    probe = Counting(0)
    assert _finish(probe) == {"things_checked": (0, "checks")}
    assert "made no checks" in probe.error


def test_an_error_in_values_is_captured_too():
    class Broken(Counting):
        def values(self, ctx):
            raise RuntimeError("Prometheus unreachable")

    probe = Broken(2)
    assert _finish(probe) == {"things_checked": (0, "checks")}
    assert probe.error == "RuntimeError: Prometheus unreachable"


def _sliding(arrivals: np.ndarray, limit: int, window: float) -> np.ndarray:
    """Server times a correct sliding-window limiter admits among ``arrivals``."""
    admitted: list[float] = []
    for t in np.sort(arrivals):
        if sum(a > t - window for a in admitted[-limit:]) < limit:
            admitted.append(t)
    return np.array(admitted)


def test_a_correct_sliding_limiter_is_never_charged_for_network_jitter():
    rng = np.random.default_rng(11)
    for _ in range(50):
        server = _sliding(rng.uniform(0, 20, 400), limit=30, window=6.0)
        sent = server - rng.uniform(0, 0.5, len(server))
        answered = server + rng.uniform(0, 0.5, len(server))
        assert most_within(sent, answered, 6.0) <= 30


def test_two_fixed_windows_back_to_back_show_twice_the_limit():
    rng = np.random.default_rng(12)
    # the published limiter: 30 at the end of one fixed window, 30 at the start of the next
    server = np.concatenate([rng.uniform(4.0, 5.9, 30), rng.uniform(6.05, 7.5, 30)])
    sent, answered = server - 0.05, server + 0.05
    assert most_within(sent, answered, 6.0) == 60
    assert most_within(sent[:30], answered[:30], 6.0) == 30
    assert most_within(np.array([]), np.array([]), 6.0) == 0
