"""TruthSync's OpenAPI contract: the request bodies the handlers read by hand, with the instance's limits.

The handlers parse bodies themselves (a size cap while reading, orjson), so FastAPI cannot infer their
shape; this module writes it down once, from the same ``Config`` the handlers enforce, so a client or a
contract test generated from ``/openapi.json`` knows every limit.
"""
from __future__ import annotations

from typing import Any

from truthsync.config import Config

_ERROR = {"type": "object", "required": ["detail"], "properties": {"detail": {"type": "string"}}}


def _errors(config: Config) -> dict[str, Any]:
    def reply(why: str) -> dict[str, Any]:
        return {"description": why, "content": {"application/json": {"schema": _ERROR}}}
    return {"400": reply("the body is not UTF-8 JSON"),
            "413": reply(f"the body exceeds {config.max_body_bytes} bytes (TRUTHSYNC_MAX_BODY_BYTES), or a batch "
                         f"holds more than {config.batch_max} texts (TRUTHSYNC_BATCH_MAX)"),
            "422": reply("the JSON does not have the documented shape, or a text is empty"),
            "503": reply("the fact store (Postgres) is unreachable")}


def _body(schema: dict[str, Any], config: Config) -> dict[str, Any]:
    return {"requestBody": {"required": True, "description": f"at most {config.max_body_bytes} bytes of UTF-8 JSON",
                            "content": {"application/json": {"schema": schema}}}}


def verify(config: Config) -> dict[str, Any]:
    """Route keywords for ``POST /verify``."""
    text = {"type": "string", "minLength": 1, "pattern": r"\S", "description": "the text whose claims to verify"}
    schema = {"type": "object", "required": ["text"], "properties": {"text": text}}
    return {"summary": "Verify the claims of one text", "responses": _errors(config),
            "openapi_extra": _body(schema, config)}


def verify_batch(config: Config) -> dict[str, Any]:
    """Route keywords for ``POST /verify/batch``."""
    texts = {"type": "array", "minItems": 1, "maxItems": config.batch_max,
             "items": {"type": "string", "minLength": 1, "pattern": r"\S"},
             "description": f"1 to {config.batch_max} texts (TRUTHSYNC_BATCH_MAX)"}
    schema = {"type": "object", "required": ["texts"], "properties": {"texts": texts}}
    return {"summary": f"Verify up to {config.batch_max} texts in one call", "responses": _errors(config),
            "openapi_extra": _body(schema, config)}
