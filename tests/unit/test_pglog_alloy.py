"""Compose reads the Postgres log through Alloy: its regexes pull the same fields as the local reader.

Alloy's regexes are RE2; the ones used here are also valid Python regexes, so each is run on the
captured real log (tests/fixtures/pglog/capture.log) against ``analysis.collect.pglog``. The Go
templates (CSV unquoting, the class) are not run here: no Alloy binary on this machine.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from analysis.collect.pglog import entries, parse
from analysis.stack.render import CONFIG_SRC

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pglog"


def _postgres_regexes() -> list[tuple[str, re.Pattern]]:
    alloy = (CONFIG_SRC / "alloy" / "config.alloy").read_text()
    block = alloy[alloy.index('loki.process "postgres"'):]
    block = block[:block.index("\nloki.write")]
    stages = re.findall(r'stage\.regex \{\s*(?:source\s*=\s*"(\w+)"\s*)?expression\s*=\s*("(?:[^"\\]|\\.)*")', block)
    return [(source or "", re.compile(json.loads(expr))) for source, expr in stages]


def test_alloy_extracts_user_database_statement_and_class_like_the_local_reader():
    regexes = _postgres_regexes()
    texts = [text for text, _ in entries(FIXTURES / "capture.log")]
    frame = parse(entries(FIXTURES / "capture.log"))
    checked = 0
    for text, row in zip(texts, frame.itertuples()):
        extracted: dict[str, str] = {}
        for source, rx in regexes:
            m = rx.search(extracted.get(source, "") if source else text)
            if m:
                extracted.update({k: v for k, v in m.groupdict().items() if v is not None})
        if row.kind not in ("statement", "audit"):
            continue
        if "audit_class" in extracted:  # what the stage.template after the regexes does to a CSV field
            extracted["statement"] = extracted["statement"].removeprefix('"').removesuffix('"').replace('""', '"')
        checked += 1
        assert (extracted["user"], extracted["db"]) == (row.user, row.database), text
        assert extracted["statement"] == row.statement, text
        if row.kind == "audit":
            assert extracted["audit_class"] == row._7, text  # the ``class`` column
    assert checked > 50
