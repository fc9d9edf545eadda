"""Snapshot deltas: counters subtract, resets restart from zero, labels new since the first snapshot count."""
import pandas as pd

from analysis.collect import delta, tidy

TS = pd.Timestamp("2026-01-01", tz="UTC")


def test_a_label_absent_from_the_first_snapshot_counts_from_zero():
    # Redis lists db0 in INFO keyspace only once it holds a key
    before = tidy([{"timestamp": TS, "metric": "keyspace_hits", "value": 5}])
    after = tidy([{"timestamp": TS, "metric": "keyspace_hits", "value": 9},
                  {"timestamp": TS, "metric": "keys", "value": 3, "db": "db0"}])
    out = delta(before, after, {"keyspace_hits", "keys"}).set_index("metric")["value"]
    assert out["keyspace_hits"] == 4 and out["keys"] == 3


def test_a_counter_that_went_down_was_reset_and_its_new_value_is_the_change():
    before = tidy([{"timestamp": TS, "metric": "calls", "value": 100, "query": "q"}])
    after = tidy([{"timestamp": TS, "metric": "calls", "value": 7, "query": "q"}])
    assert delta(before, after, {"calls"})["value"].tolist() == [7]
