"""Cache values as JSON that round-trips what Postgres returns: datetimes, dates and decimals come back typed."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import orjson

_TAGS = {"$dt": datetime.fromisoformat, "$date": date.fromisoformat, "$dec": Decimal}


def _tag(value):
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$dec": str(value)}
    raise TypeError(f"cannot cache a {type(value).__name__}; convert it to JSON types first")


def _untag(value):
    if isinstance(value, dict):
        if len(value) == 1:
            [(key, inner)] = value.items()
            if key in _TAGS:
                return _TAGS[key](inner)
        return {k: _untag(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_untag(v) for v in value]
    return value


def dumps(value) -> bytes:
    return orjson.dumps(value, default=_tag, option=orjson.OPT_PASSTHROUGH_DATETIME)


def loads(raw: bytes):
    return _untag(orjson.loads(raw))


def response_default(value):
    """For HTTP responses: decimals as numbers (datetimes are ISO strings natively in orjson)."""
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
