"""Fault timelines: seeded, reproducible, every class once, windows apart."""
from __future__ import annotations

from datetime import datetime, timezone

from analysis import faults


def test_a_seed_gives_the_same_timeline_and_another_seed_another():
    assert faults.generate(3) == faults.generate(3)
    assert faults.generate(3).windows != faults.generate(4).windows


def test_every_fault_class_and_benign_event_once_in_order_and_apart():
    tl = faults.generate(11)
    kinds = [w.kind for w in tl.windows]
    assert sorted(kinds) == sorted([*faults.FAULTS, *faults.BENIGN])
    assert tl.windows[0].start_s == faults.LEAD_IN_S
    for a, b in zip(tl.windows, tl.windows[1:]):
        # a fault's signals (rate over 5 s) fade before the next window; a benign event's need not
        assert b.start_s - a.end_s >= (faults.BENIGN_GAP_S if a.benign else faults.GAP_S)[0] - 0.05
    assert faults.GAP_S[0] >= 4.0 and faults.BENIGN_GAP_S[0] >= 2.0
    assert tl.length_s >= tl.windows[-1].end_s + faults.TAIL_S - 0.05
    assert {w.kind for w in tl.windows if w.benign} == set(faults.BENIGN)


def test_truth_uses_the_real_times():
    tl = faults.generate(1)
    late = faults.Injected(tl.windows[0], tl.windows[0].start_s + 2, tl.windows[0].end_s + 3, "slow")
    frame = faults.truth(tl, [late], datetime(2026, 1, 1, tzinfo=timezone.utc))
    row = frame.iloc[0]
    assert (row["start"] - datetime(2026, 1, 1, tzinfo=timezone.utc)).total_seconds() == late.started_s
    assert row["error"] == "slow" and row["seed"] == 1
