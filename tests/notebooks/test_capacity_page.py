"""The capacity notebook runs under papermill for a capacity study (linked from the report's index)
and for a sweep study, and embeds real, non-blank figures."""
from __future__ import annotations

import base64
import dataclasses
import io
import re

import matplotlib.image
import nbformat
from synthetic_capacity import make_capacity_study

from analysis import report, results
from synthetic_sweep import make_sweep_study

IMAGE = re.compile(r'<img[^>]*src="data:image/png;base64,([^"]+)"')


def _images(html: str) -> list:
    return [matplotlib.image.imread(io.BytesIO(base64.b64decode(b)), format="png") for b in IMAGE.findall(html)]


def _errors(executed) -> list:
    return [o for c in executed.cells for o in c.get("outputs", []) if o["output_type"] == "error"]


def test_a_capacity_study_gets_a_capacity_page_with_its_curves_and_the_service_that_saturates(tmp_path):
    study = make_capacity_study(tmp_path / "results")
    meta = results.load_study(study).meta
    pages = report.capacity_pages(study.name, str(study.parent), meta)
    assert [p.name for p in pages] == ["all-on-capacity"], "render() adds it, so the index links it"
    assert report.capacity_pages(study.name, str(study.parent), dataclasses.replace(meta, patterns=["redis-cache"])) == []
    executed = report.execute_page(pages[0], tmp_path)
    assert not _errors(nbformat.read(executed, as_version=4))
    html = executed.with_suffix(".html").read_text()
    images = _images(html)
    assert len(images) >= 3, "the curves, and the CPU per service of each arm"
    assert all(img.shape[0] > 100 and img.shape[1] > 100 and img.std() > 0.01 for img in images)
    assert "maximum sustainable throughput" in html
    assert "api reaches 80 % of a core first" in html, "the resource view names the service that saturates"


def test_a_sweep_study_renders_its_dose_response_on_the_capacity_page(tmp_path):
    study = make_sweep_study(tmp_path / "results")
    pages = report.capacity_pages(study.name, str(study.parent), results.load_study(study).meta)
    assert [p.name for p in pages] == ["redis-cache-capacity"]
    executed = report.execute_page(pages[0], tmp_path)
    assert not _errors(nbformat.read(executed, as_version=4))
    html = executed.with_suffix(".html").read_text()
    images = _images(html)
    assert images and all(img.std() > 0.01 for img in images)
    assert "holds from 30 on" in html
