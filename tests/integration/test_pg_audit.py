"""P7 on a real Postgres: arms switch by reload, and the audit probe sees what each arm logs.

Positive controls: the design's configuration must show the planted password changes (the
detector finds each one the log holds), log_min_duration_statement = 0 must find every planted
slow statement with its duration, and no logging must find none.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from analysis import patterns
from analysis.audit import scan
from analysis.audit_probe import PgAuditTrail
from analysis.collect.pglog import entries
from analysis.probe_base import ProbeContext
from analysis.settings import Settings
from analysis.stack import toggles
from analysis.stack.health import port_in_use
from analysis.stack.local import LocalStack
from analysis.stack.provision import PGAUDIT

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pglog"


def _free_postgres_base() -> int:
    """A port base whose Postgres port is free, below the ephemeral range, apart from other sessions."""
    rng = random.Random(os.getpid() + 17)
    for base in rng.sample(range(10_000, 24_000, 7), 200):
        if not port_in_use("127.0.0.1", Settings(port_base=base).port("postgres")):
            return base
    raise RuntimeError("no free port for the test Postgres")


@pytest.fixture(scope="module")
def pg_stack():
    """Postgres alone, on a port of its own, at the "none" arm."""
    root = Path(tempfile.mkdtemp(prefix="lab-it-audit-"))
    os.chmod(root, 0o755)  # the postgres user must reach its data directory
    settings = Settings.from_env(run_dir=root / "run", results_dir=root / "results", reports_dir=root / "reports",
                                 port_base=_free_postgres_base())
    stack = LocalStack(settings, only=["postgres"])
    try:
        stack.up(patterns.PG_AUDIT_ARMS["none"])
        yield stack
    finally:
        stack.down()
        shutil.rmtree(root, ignore_errors=True)


def _probe(stack, arm: str, seconds: float = 2.5) -> dict[str, float]:
    stack.apply(patterns.PG_AUDIT_ARMS[arm])
    ctx = ProbeContext(stack.settings, {**toggles.defaults(), **patterns.PG_AUDIT_ARMS[arm]})
    probe = PgAuditTrail()
    probe.start(ctx)
    time.sleep(seconds)
    values = probe.finish(ctx)
    assert probe.error is None, probe.error
    return {k: v for k, (v, _) in values.items()}


def test_switching_arms_reloads_postgres_and_open_connections_survive(pg_stack):
    s = pg_stack.settings
    conn = psycopg.connect(host=str(s.run_dir / "pgsocket"), port=s.port("postgres"), user="postgres",
                           dbname="postgres", autocommit=True)
    started = conn.execute("SELECT pg_postmaster_start_time()").fetchone()[0]
    assert pg_stack.apply(patterns.PG_AUDIT_ARMS["design"]) == []  # nothing restarted
    assert conn.execute("SHOW log_statement").fetchone()[0] == "all"
    assert conn.execute("SELECT pg_postmaster_start_time()").fetchone()[0] == started
    pg_stack.apply(patterns.PG_AUDIT_ARMS["none"])
    assert conn.execute("SHOW log_statement").fetchone()[0] == "none"
    conn.close()


def test_the_design_configuration_leaks_every_planted_password_and_the_lab_detects_it(pg_stack):
    v = _probe(pg_stack, "design")
    assert v["password_leaks"] >= 1 and v["leak_detector_misses"] == 0
    assert v["verifier_leaks"] >= 1
    assert v["slow_query_recall"] == 0 and v["slow_query_recall_paired"] == 1  # statement and duration apart
    assert v["ddl_audit_share"] == 1


def test_no_statement_logging_leaks_only_through_the_error_path_and_finds_no_slow_query(pg_stack):
    v = _probe(pg_stack, "none")
    assert v["password_leaks"] == 0 and v["error_path_leaks"] == 1
    assert v["slow_query_recall"] == 0 and v["pg_log_bytes"] == 0


def test_logging_every_duration_finds_every_planted_slow_statement(pg_stack):
    v = _probe(pg_stack, "min0")
    assert v["slow_queries_missed"] == 0 and v["slow_query_recall"] == 1


@pytest.mark.skipif(not PGAUDIT, reason="pgaudit is not installed (stack/local/install-deps.sh)")
def test_pgaudit_redacts_role_passwords_and_keeps_the_ddl_trail(pg_stack):
    v = _probe(pg_stack, "pgaudit-write")
    assert v["password_leaks"] == 0 and v["leak_detector_misses"] == 0 and v["ddl_audit_share"] == 1


def test_the_leak_fixture_can_be_captured_again_and_every_leak_is_found(tmp_path):
    out = tmp_path / "capture.log"
    done = subprocess.run([sys.executable, str(FIXTURES / "capture.py"), str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    texts = [t for t, _ in entries(out)]
    leaking = {t["entry"] for t in json.loads(out.with_suffix(".json").read_text())["leaking"]}
    assert len(leaking) >= 50 and leaking <= {leak.entry for leak in scan(texts)}
