"""One small study and its rendered report, shared by the notebook tests of a session."""
from __future__ import annotations

import time

import pytest

from analysis import report
from synthetic_study import NOT_MEASURED, PATTERNS, make_study  # tests/notebooks is on sys.path


@pytest.fixture(scope="session")
def rendered(tmp_path_factory):
    """``(study_dir, report_dir)`` of a synthetic study rendered by ``report.render``."""
    base = tmp_path_factory.mktemp("report")
    study = make_study(base / "results", "nbtest", PATTERNS, NOT_MEASURED, repeats=4)
    started = time.monotonic()
    index = report.render(study, base / "reports")
    print(f"\nreport of {len(PATTERNS) + len(NOT_MEASURED) + 1} pages rendered in "
          f"{time.monotonic() - started:.1f} s")
    return study, index.parent
