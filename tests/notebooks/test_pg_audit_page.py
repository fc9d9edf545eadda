"""The P7 page runs top to bottom under papermill on a stored study with two audit arms."""
from __future__ import annotations

from synthetic_study import make_study

from analysis import report


def test_the_pg_audit_page_shows_every_arm_its_overhead_and_a_recommendation(tmp_path):
    study = make_study(tmp_path / "results", "p7", ("pg-audit", "pg-audit-min0"), {}, repeats=2,
                       requests_per_run=200)
    page = report.Page("pg-audit", report.PATTERN_PAGES["pg-audit"],
                       {"study": "p7", "results_dir": str(study.parent), "pattern": "pg-audit"})
    (tmp_path / "out").mkdir()
    html = report.execute_page(page, tmp_path / "out").read_text()
    assert "Overhead of each audit setting" in html or "data:image/png" in html
    for text in ("Recommendation", "design", "min0", "no password in the log", "finds slow queries"):
        assert text in html, text
