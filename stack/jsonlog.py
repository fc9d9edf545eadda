"""JSON-lines logging shared by every Python service: the format mtail (local) and Alloy (compose) read.

One object per line: timestamp (ISO-8601 UTC), level, logger, message, service,
the request context (request id, tenant) when set, and any ``extra=`` fields.
"""
from __future__ import annotations

import contextvars
import logging
import sys
from datetime import datetime, timezone

import orjson

#: request context: set once per request, carried by every line logged while serving it
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
tenant: contextvars.ContextVar[int | None] = contextvars.ContextVar("tenant", default=None)

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonLines(logging.Formatter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line = {"timestamp": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                "level": record.levelname, "logger": record.name, "message": record.getMessage(),
                "service": self.service}
        rid, tid = request_id.get(), tenant.get()
        if rid is not None:
            line["request_id"] = rid
        if tid is not None:
            line["tenant"] = tid
        line.update((k, v) for k, v in vars(record).items() if k not in _STANDARD)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def configure(log_file: str | None, service: str, level: int = logging.INFO) -> None:
    """Send every logger (uvicorn's included) to ``log_file``, or stderr when it is empty."""
    handler = logging.FileHandler(log_file) if log_file else logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines(service))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
