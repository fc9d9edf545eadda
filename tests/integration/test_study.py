"""A short real redis-cache study on the local stack: a verdict with an interval, and its report."""
from __future__ import annotations

import base64
import io
import math
import re

import matplotlib.image
import pytest

from analysis import report, stats

pytestmark = pytest.mark.integration
IMAGE = re.compile(r'<img[^>]*src="data:image/png;base64,([^"]+)"')


def test_a_short_redis_cache_study_returns_a_verdict_with_an_interval(real_study, lab_stack):
    assert len(real_study.completed) == 9  # a warm-up and four repeats of each arm
    table = stats.compare_study(real_study.study_dir).set_index("metric")
    pg = table.loc["pg_statements_per_request"]
    assert pg["verdict"] in {"holds", "refuted", "inconclusive"} and pg["reason"]
    assert math.isfinite(pg["ci_low"]) and pg["ci_low"] <= pg["change"] <= pg["ci_high"]
    assert pg["change"] < 0, "a cache in front of the dashboard must not add statements"
    p50 = table.loc["dashboard_p50_ms"]
    assert math.isfinite(p50["ci_low"]) and math.isfinite(p50["ci_high"])
    assert table.loc["stale_reads", "verdict"] == "holds", table.loc["stale_reads", "reason"]
    assert lab_stack.toggles().get("SENTINEL_CACHE", "off") == "off", "the study restored the stack's toggles"


def test_the_report_of_a_real_study_holds_the_verdicts_and_real_figures(real_study, tmp_path):
    index = report.render(real_study.study_dir, tmp_path)
    html = index.read_text().replace("<wbr>", "")  # metric names may wrap after _
    assert '<table class="verdicts"' in html and "pg_statements_per_request" in html
    page = (index.parent / "redis-cache.html").read_text()
    images = [matplotlib.image.imread(io.BytesIO(base64.b64decode(b)), format="png") for b in IMAGE.findall(page)]
    assert images, "the pattern page embeds its figures"
    assert all(img.shape[0] > 100 and img.shape[1] > 100 and img.std() > 0.01 for img in images)
