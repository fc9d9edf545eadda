"""Values the API hands to Postgres, Redis or PBKDF2 must be storable: strings without NUL (Postgres text
cannot hold one) or lone surrogates (not encodable as UTF-8), ids within Postgres's bigint. Anything else
is a 422 that says which, never a 500."""
from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator


def _storable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain the NUL character (\\u0000), which Postgres text cannot store")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (a lone surrogate such as \\ud800 cannot be stored)") from None
    return value


#: the largest id Postgres's ``bigint`` holds (and JSON encoders take)
BIGINT_MAX = 2**63 - 1

#: a ``str`` field or parameter that Postgres, Redis and the password hash can all take
StorableText = Annotated[str, AfterValidator(_storable)]
