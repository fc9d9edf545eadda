"""Cached values come back with the types Postgres gave them; responses render decimals as numbers."""
from datetime import date, datetime, timezone
from decimal import Decimal

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stack.api import codec


def test_dates_datetimes_and_decimals_round_trip():
    value = {"generated_at": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc), "day": date(2026, 1, 2),
             "mttr_s": Decimal("1234.567"), "nested": [{"n": 1, "s": "x", "none": None}]}
    assert codec.loads(codec.dumps(value)) == value
    assert type(codec.loads(codec.dumps(value))["mttr_s"]) is Decimal


@given(st.recursive(st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.text() |
                    st.decimals(allow_nan=False, allow_infinity=False) |
                    st.datetimes(timezones=st.just(timezone.utc)),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                    max_leaves=20))
def test_any_cacheable_value_round_trips(value):
    assert codec.loads(codec.dumps(value)) == value


def test_an_uncacheable_value_names_its_type():
    with pytest.raises(TypeError, match="set"):
        codec.dumps({"x": {1, 2}})


def test_responses_render_decimals_as_numbers():
    assert orjson.loads(orjson.dumps({"m": Decimal("1.5")}, default=codec.response_default)) == {"m": 1.5}
