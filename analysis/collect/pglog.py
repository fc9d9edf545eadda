"""The Postgres server log as a tidy frame: one row per log entry (continuation lines joined).

The lab's prefix is ``'%m [%p] %q%u@%d '`` (stack/config/postgres/postgresql.conf.j2); the
Alloy pipeline for compose (stack/config/alloy/config.alloy) extracts the same fields. Each
entry is classified the way an auditor reads it: ``kind`` (statement, duration, audit, error,
detail, other) and ``class`` (READ, WRITE, DDL, ROLE, FUNCTION, MISC; pgaudit's own class for
its lines), with the statement text and the duration when the entry carries them.
"""
from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd

#: the columns of a Postgres log frame
COLUMNS = ["timestamp", "pid", "user", "database", "severity", "kind", "class", "statement", "duration_ms",
           "bytes", "message"]

_PREFIX = re.compile(r"^(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)(?: (?P<tz>[A-Za-z]{1,5}|[+-]\d\d(?::?\d\d)?))?"
                     r" \[(?P<pid>\d+)\] (?:(?P<user>[^@\s\[]*)@(?P<database>\S*) )?"
                     r"(?P<severity>[A-Z0-9]+):  (?P<message>.*)$", re.S)
_DURATION = re.compile(r"^duration: (?P<ms>[\d.]+) ms(?:  (?:statement|(?:execute|bind|parse) [^:]*): (?P<sql>.*))?$",
                       re.S)
_STATEMENT = re.compile(r"^(?:statement|(?:execute|bind|parse) [^:]*): (?P<sql>.*)$", re.S)
_FIRST_WORDS = re.compile(r"^\s*(?:/\*.*?\*/\s*)*(?P<w1>[A-Za-z]+)\s*(?P<w2>[A-Za-z]*)", re.S)
_ROLE_WORDS = {"ROLE", "USER", "GROUP"}
_WRITE = {"INSERT", "UPDATE", "DELETE", "MERGE", "TRUNCATE", "COPY"}
_DDL = {"CREATE", "ALTER", "DROP", "COMMENT", "REINDEX", "CLUSTER"}
_READ = {"SELECT", "WITH", "VALUES", "TABLE", "SHOW", "FETCH", "EXPLAIN"}


def entries(path: str | Path, offset: int = 0) -> Iterator[tuple[str, int]]:
    """(entry, bytes) from byte ``offset`` on; a line starting with a tab continues the entry before it."""
    with Path(path).open("rb") as f:
        f.seek(offset)
        yield from join_lines((raw.decode("utf-8", "replace").rstrip("\n"), len(raw)) for raw in f)


def join_lines(lines: Iterable[tuple[str, int]]) -> Iterator[tuple[str, int]]:
    """(line, bytes) pairs → (entry, bytes): continuation lines (a leading tab) joined with a newline."""
    entry, size = None, 0
    for line, n in lines:
        if line.startswith("\t") and entry is not None:
            entry, size = entry + "\n" + line[1:], size + n
            continue
        if entry is not None:
            yield entry, size
        entry, size = line, n
    if entry is not None:
        yield entry, size


def statement_class(sql: str) -> str:
    """READ, WRITE, DDL, ROLE, FUNCTION or MISC, from a statement's leading keywords (pgaudit's classes)."""
    m = _FIRST_WORDS.match(sql or "")
    if not m:
        return "MISC"
    w1, w2 = m["w1"].upper(), m["w2"].upper()
    if w1 in ("GRANT", "REVOKE") or (w1 in ("CREATE", "ALTER", "DROP") and w2 in _ROLE_WORDS):
        return "ROLE"
    if w1 in _WRITE:
        return "WRITE"
    if w1 in _DDL:
        return "DDL"
    if w1 in _READ:
        return "READ"
    if w1 in ("CALL", "DO"):
        return "FUNCTION"
    return "MISC"


def _audit_fields(message: str) -> tuple[str, str]:
    """pgaudit's ``AUDIT: SESSION,1,1,CLASS,COMMAND,TYPE,NAME,STATEMENT,PARAMETER`` → (class, statement)."""
    body = message[len("AUDIT: "):]
    try:
        row = next(csv.reader([body]))
    except (csv.Error, StopIteration):
        return "MISC", body
    return (row[3] if len(row) > 3 else "MISC"), (row[7] if len(row) > 7 else body)


def parse(items: Iterable[tuple[str, int]], tz: str = "UTC") -> pd.DataFrame:
    """Entries (as :func:`entries` yields them) → the frame of :data:`COLUMNS`; entries without the
    lab's prefix (a crash trace, another prefix) keep their text in ``message`` and no timestamp."""
    rows = []
    for text, size in items:
        m = _PREFIX.match(text)
        if not m:
            rows.append((None, "", "", "", "", "other", "", "", None, size, text))
            continue
        msg, severity = m["message"], m["severity"]
        kind, klass, sql, ms = "other", "", "", None
        if severity in ("ERROR", "FATAL", "PANIC"):
            kind = "error"
        elif severity in ("DETAIL", "HINT", "CONTEXT"):
            kind = "detail"
        elif severity == "STATEMENT":
            kind, sql = "error", msg
        elif msg.startswith("AUDIT: "):
            kind = "audit"
            klass, sql = _audit_fields(msg)
        elif (d := _DURATION.match(msg)) is not None:
            kind, ms, sql = "duration", float(d["ms"]), d["sql"] or ""
        elif (s := _STATEMENT.match(msg)) is not None:
            kind, sql = "statement", s["sql"]
        if sql and not klass:
            klass = statement_class(sql)
        tzname = "UTC" if m["tz"] in (None, "UTC", "GMT") else tz
        rows.append((pd.Timestamp(m["ts"]).tz_localize(tzname).tz_convert("UTC"), m["pid"], m["user"] or "",
                     m["database"] or "", severity, kind, klass, sql, ms, size, msg))
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
    df["duration_ms"] = df["duration_ms"].astype(float)
    return df


def read(path: str | Path, offset: int = 0) -> pd.DataFrame:
    """The server log from byte ``offset`` on, parsed (see :func:`parse`)."""
    return parse(entries(path, offset))
