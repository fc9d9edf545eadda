"""Leak-detector throughput on the benign corpus (``make bench``, or ``python -m analysis.audit_bench``).

Streams ``tests/fixtures/pglog/benign.log.xz`` (real lines of this Postgres, no credential in any: the
committed 102,762, or a corpus of ≥ 1 M that ``capture_benign.py`` writes there) through
:func:`analysis.audit.scan` and prints lines per second, then the per-entry cost of the credential
rules with and without the keyword pre-filter, on the same entries in the same run.
"""
from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.table import Table

from analysis.audit import detailed_secrets_in, scan, secrets_in
from analysis.collect.pglog import join_lines
from analysis.settings import REPO

CORPUS = REPO / "tests" / "fixtures" / "pglog" / "benign.log.xz"
sys.path.insert(0, str(CORPUS.parent))
from codec import stream  # noqa: E402  (the corpus's own codec, beside it)


def main() -> None:
    console = Console()
    started = time.perf_counter()
    entries = [text for text, _ in join_lines((line, 0) for line in stream(CORPUS))]
    decoded = time.perf_counter()
    lines = sum(text.count("\n") + 1 for text in entries)
    alarms = len(scan(entries))
    scanned = time.perf_counter()
    sample = entries[:200_000]
    rules = {}
    for name, fn in (("pre-filter + rules", secrets_in), ("rules only", detailed_secrets_in)):
        t = time.perf_counter()
        for text in sample:
            fn(text)
        rules[name] = len(sample) / (time.perf_counter() - t)
    table = Table(title=f"leak detector on {CORPUS.name}: {lines:,} lines, {len(entries):,} entries, {alarms} alarms")
    table.add_column("measure")
    table.add_column("figure", justify="right")
    table.add_row("decode (xz + timestamps), lines/s", f"{lines / (decoded - started):,.0f}")
    table.add_row("scan, lines/s", f"{lines / (scanned - decoded):,.0f}")
    table.add_row("scan, seconds for the corpus", f"{scanned - decoded:.1f}")
    for name, rate in rules.items():
        table.add_row(f"credential rules, {name}, entries/s", f"{rate:,.0f}")
    table.add_row("pre-filter speed-up on the rules", f"{rules['pre-filter + rules'] / rules['rules only']:.1f}×")
    console.print(table)


if __name__ == "__main__":
    main()
