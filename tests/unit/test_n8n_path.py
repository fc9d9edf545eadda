"""The dispatch-latency measurement reports a figure only when every trial reached the remediator by both
paths; without n8n it refuses (not measured), never a number."""
from __future__ import annotations

import pytest

from analysis.n8n_path import DispatchError, DispatchLatency, DispatchTrial, measure_dispatch
from analysis.settings import Settings


def test_what_n8n_adds_is_paired_per_trial():
    result = DispatchLatency([DispatchTrial("a", 2.0, 2.5), DispatchTrial("b", 3.0, 3.1),
                              DispatchTrial("c", 2.2, 2.4)], model="none")
    assert result.measured and result.direct.n == result.n8n.n == result.n8n_added.n == 3
    assert result.n8n_added.median_s == pytest.approx(0.2)
    assert result.to_json()["measured"] is True


def test_a_trial_that_never_reached_the_remediator_makes_the_figure_not_measured():
    result = DispatchLatency([DispatchTrial("a", 2.0, 2.5), DispatchTrial("b", 2.0, None)], model="none")
    assert not result.measured
    assert (result.n8n.n, result.n8n.missing) == (1, 1) and result.n8n_added.n == 1
    assert not DispatchLatency([], model="none").measured


def test_with_n8n_off_the_n8n_path_is_not_measured(tmp_path):
    with pytest.raises(DispatchError, match="LAB_N8N=1"):
        measure_dispatch(Settings(run_dir=tmp_path, n8n=False), trials=1)
