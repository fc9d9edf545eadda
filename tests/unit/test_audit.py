"""Credential leaks in Postgres logs: every leak a real Postgres 15 wrote is found, nothing else is.

``tests/fixtures/pglog/capture.log`` is a real server log written by ``capture.py`` (regenerate
with ``.venv/bin/python tests/fixtures/pglog/capture.py``); ``capture.json`` says which entries hold
one of the secrets the capture used: the ground truth is the secrets, not the detector. The ≥ 1 M benign
lines that must raise no alarm: ``tests/integration/test_benign_pglog.py``.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.audit import RULES, may_hold_credential, detailed_secrets_in, scan, secrets_in
from analysis.collect.pglog import entries, parse, statement_class

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pglog"


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


def test_the_prefilter_changes_nothing_on_the_leak_fixture(captured):
    texts, leaking, _ = captured
    assert [secrets_in(t) for t in texts] == [detailed_secrets_in(t) for t in texts]
    assert sum(bool(detailed_secrets_in(texts[i])) for i in leaking) >= 30  # most leaks are found this way


_RULE_TEXTS = st.one_of(*(st.from_regex(rule.pattern) for rule in RULES))


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(_RULE_TEXTS, _RULE_TEXTS.map(lambda t: t.replace("'", "''")), st.text()))
def test_the_prefilter_never_drops_an_entry_the_full_detector_flags(text):
    """Any text a credential rule matches (also one quoting level deeper, as inside ``EXECUTE '…'``)
    passes the pre-filter, so skipping the rest never hides a finding."""
    assert secrets_in(text) == detailed_secrets_in(text)
    if detailed_secrets_in(text):
        assert may_hold_credential(text)


def test_the_prefilter_folds_case_as_the_rules_do():
    """``re.I`` matches ``ſ`` (long s) to ``s``: a lower-cased pre-filter would skip this entry."""
    text = "ALTER ROLE x PAſSWORD 'secret-123'"
    assert secrets_in(text) == detailed_secrets_in(text) == [("role-password", "secret-123")]


def test_an_application_password_hash_in_a_bind_parameter_is_a_verifier_leak():
    """Real lines of the lab's own log (API workload under the design's arm): the seeder's INSERT of the
    lab-probe user logs the user's stored PBKDF2 hash; ``capture_benign.py`` keeps such entries out of
    the benign corpus for that reason."""
    entries_ = ["2026-12-02 16:24:06.834 GMT [29827] sentinel@sentinel LOG:  execute <unnamed>: INSERT INTO users "
                "(id, tenant_id, username, email, password_hash) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                "2026-12-02 16:24:06.834 GMT [29827] sentinel@sentinel DETAIL:  parameters: $1 = '1000000', "
                "$2 = '1000000', $3 = 'lab-probe', $4 = 'lab-probe@probes.example', $5 = 'pbkdf2_sha256$1000$"
                "seed1000000$9550c6806e1f5e8d45993c52463b68fa42484f17bb27d588ca7554251adcb2ae'"]
    leak, = scan(entries_)
    assert (leak.entry, leak.rule, leak.kind) == (1, "bind-parameter", "verifier")
