"""Credential leaks in Postgres logs: every leak a real Postgres 15 wrote is found, nothing else is.

``tests/fixtures/pglog/capture.log`` is a real server log written by ``capture.py`` (regenerate
with ``.venv/bin/python tests/fixtures/pglog/capture.py``); ``capture.json`` says which entries hold
one of the secrets the capture used: the ground truth is the secrets, not the detector.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from analysis.audit import scan, secrets_in
from analysis.collect.pglog import entries, join_lines, parse, statement_class

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pglog"
sys.path.insert(0, str(FIXTURES))
from codec import decode  # noqa: E402  (the fixture's own codec, beside it)


@pytest.fixture(scope="module")
def captured():
    texts = [text for text, _ in entries(FIXTURES / "capture.log")]
    truth = json.loads((FIXTURES / "capture.json").read_text())
    return texts, {t["entry"]: t["kind"] for t in truth["leaking"]}, set(truth["secrets"])


def test_the_fixture_holds_at_least_fifty_real_leaking_entries(captured):
    texts, leaking, _ = captured
    assert len(leaking) >= 50 and len(texts) > len(leaking)


def test_every_leaking_entry_is_found_with_its_kind(captured):
    texts, leaking, _ = captured
    found: dict[int, set[str]] = {}
    for leak in scan(texts):
        found.setdefault(leak.entry, set()).add(leak.kind)
    missed = [texts[i][:160] for i in leaking if i not in found]
    assert not missed, missed
    wrong_kind = [texts[i][:160] for i, kind in leaking.items() if kind not in found[i]]
    assert not wrong_kind, wrong_kind


def test_entries_without_a_secret_raise_no_alarm(captured):
    texts, leaking, _ = captured
    false = sorted({leak.entry for leak in scan(texts)} - set(leaking))
    assert not false, [texts[i][:160] for i in false]


def test_a_bind_parameter_is_a_leak_only_when_bound_to_a_password_column(captured):
    texts, _, used = captured
    bound = [leak for leak in scan(texts) if leak.rule == "bind-parameter"]
    assert bound and all(leak.digest in used for leak in bound)


def test_a_finding_never_carries_the_secret():
    leak, = scan(["2026-01-01 10:00:00.000 UTC [7] a@b LOG:  statement: ALTER ROLE x PASSWORD 'hunter2-long'"])
    assert "hunter2" not in repr(leak) and leak.kind == "cleartext"


@pytest.mark.parametrize("text, kind", [
    ("ALTER ROLE x PASSWORD 'md5" + "0" * 32 + "'", "verifier"),
    ("CREATE USER x PASSWORD 'SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy'", "verifier"),
    ("CREATE USER x WITH LOGIN ENCRYPTED PASSWORD E'a\\\\b'", "cleartext"),
    ("ALTER ROLE x PASSWORD NULL", None),
    ("SELECT 'password' AS label", None),
])
def test_verifiers_are_told_apart_from_cleartext(text, kind):
    found = secrets_in(text)
    assert ([] if kind is None else [kind]) == [("verifier" if r == "verifier" or v.startswith(("md5", "SCRAM"))
                                                 else "cleartext") for r, v in found][:1]


def test_the_log_parses_into_a_tidy_frame_with_user_database_class_statement_and_duration():
    frame = parse(entries(FIXTURES / "capture.log"))
    stated = frame[frame["kind"].isin(["statement", "audit"])]
    assert len(stated) and (stated["user"] != "").all() and (stated["database"] == "postgres").all()
    assert {"ROLE", "DDL", "WRITE", "READ"} <= set(stated["class"])
    assert frame["timestamp"].notna().all() and frame["duration_ms"].notna().any()
    assert frame["bytes"].sum() == (FIXTURES / "capture.log").stat().st_size


@pytest.mark.parametrize("sql, klass", [("INSERT INTO t VALUES (1)", "WRITE"), ("/* x */ select 1", "READ"),
                                        ("ALTER USER a PASSWORD 'x'", "ROLE"), ("DROP TABLE t", "DDL"),
                                        ("GRANT r TO u", "ROLE"), ("BEGIN", "MISC")])
def test_statements_are_classed_as_pgaudit_does(sql, klass):
    assert statement_class(sql) == klass


def test_real_benign_log_lines_raise_no_alarm():
    """``benign.log.xz``: every line the lab's Postgres wrote during three pg-audit quick studies (both arms,
    the planted throwaway-role leaks taken out). ``capture_benign.py`` regenerates it and, given
    ``--lines 1050000``, tops it up with pgbench under the most verbose logging; the stored corpus holds
    the lab's lines only (about 0.1 M), short of the 1 M the issue asks for."""
    lines = decode((FIXTURES / "benign.log.xz").read_bytes())
    assert len(lines) >= 100_000
    texts = [text for text, _ in join_lines((line, 0) for line in lines)]
    false = scan(texts)
    assert not false, [(texts[leak.entry][:160], leak.rule) for leak in false[:5]]
