"""≥ 1 M benign Postgres log lines raise no alarm, and a password planted among them is found.

The stream: the committed ``tests/fixtures/pglog/benign.log.xz`` (102,762 lines of the lab's pg-audit runs),
then the log a throwaway Postgres writes during this test under the most verbose logging and pgaudit 'all'
(``capture_benign.py``: pgbench's three protocols and a connection per transaction, a psql script of DDL,
errors, COPY, VACUUM and CHECKPOINT), read round by round until the stream holds 1,000,000 lines: real
server output, generated afresh on each run, scanned while it is generated. The positive control: an
``ALTER ROLE … PASSWORD`` run for real in that cluster before the rounds must be found in that same stream,
and it must be the only finding. The test prints the line counts, the generation time and lines/s
(``.venv/bin/python -m pytest tests/integration/test_benign_pglog.py -q -s``; README "The benign corpus").
"""
from __future__ import annotations

import secrets
import sys
import time
from collections.abc import Iterable, Iterator
from itertools import chain
from pathlib import Path

import pytest

from analysis.audit import digest, scan
from analysis.collect.pglog import join_lines
from analysis.stack.provision import PGAUDIT

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pglog"
sys.path.insert(0, str(FIXTURES))
from capture_benign import Rounds, psql, verbose_postgres  # noqa: E402  (the fixture's own generator, beside it)
from codec import stream  # noqa: E402

COMMITTED = FIXTURES / "benign.log.xz"
WANTED = 1_000_000


def _texts(lines: Iterable[str]) -> Iterator[str]:
    return (text for text, _ in join_lines((line, 0) for line in lines))


@pytest.mark.skipif(not PGAUDIT, reason="pgaudit is not installed (stack/local/install-deps.sh): the generated "
                                        "lines need pgaudit 'all'")
def test_a_million_benign_lines_raise_no_alarm_and_a_planted_password_is_found(capsys):
    secret = secrets.token_urlsafe(12)
    committed = 0
    started = time.perf_counter()
    with verbose_postgres() as (port, log):
        psql(port, input=(f"CREATE ROLE lab_benign_plant LOGIN;\n"
                          f"ALTER ROLE lab_benign_plant PASSWORD '{secret}';\n").encode())
        generated = Rounds(port, log, 0)

        def lines() -> Iterator[str]:
            nonlocal committed
            for line in stream(COMMITTED):
                committed += 1
                yield line
            generated.wanted = WANTED - committed
            yield from generated

        leaks = scan(_texts(lines()))
        seconds = time.perf_counter() - started
        planted = [leak for leak in leaks if leak.digest == digest(secret)]
        false = [leak for leak in leaks if leak.digest != digest(secret)]
        if false:  # the entries again, from the committed corpus and the log as scanned, to show them
            wanted = {leak.entry: leak.rule for leak in false}
            shown = [(wanted[i], text[:200]) for i, text in enumerate(
                _texts(chain(stream(COMMITTED), generated.read(0, generated.end)))) if i in wanted]
            pytest.fail(f"{len(false)} false alarms in {committed + generated.lines:,} benign lines: {shown[:5]}")
    total = committed + generated.lines
    assert committed >= 100_000 and total >= WANTED
    assert [(leak.rule, leak.kind) for leak in planted] == [("role-password", "cleartext")]
    with capsys.disabled():
        print(f"\n  benign lines: {total:,} ({committed:,} committed + {generated.lines:,} generated in "
              f"{generated.rounds} rounds, {generated.seconds:.1f} s, {generated.lines / generated.seconds:,.0f} "
              f"lines/s), 0 false alarms, the planted password found; {seconds:.1f} s in all "
              f"({total / seconds:,.0f} lines/s, generation + decode + scan)")
