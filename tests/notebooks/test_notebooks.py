"""The notebooks run top to bottom under papermill against a stored study, and the report reads well."""
from __future__ import annotations

import base64
import io
import re

import jupytext
import matplotlib.image
import nbformat
import pytest
from jupytext.compare import compare_notebooks
from synthetic_study import NOT_MEASURED, PATTERNS

from analysis import report

NOTEBOOKS = sorted(report.NOTEBOOKS.glob("*.ipynb"))
IMAGE = re.compile(r'<img[^>]*src="data:image/png;base64,([^"]+)"')


def _images(html: str) -> list:
    return [matplotlib.image.imread(io.BytesIO(base64.b64decode(b)), format="png") for b in IMAGE.findall(html)]


def test_every_notebook_ran_and_every_pattern_has_its_own_page(rendered):
    _, out = rendered
    for page in ("overview", *PATTERNS, *NOT_MEASURED):
        executed = nbformat.read(out / f"{page}.ipynb", as_version=4)
        errors = [o for c in executed.cells for o in c.get("outputs", []) if o["output_type"] == "error"]
        assert not errors, f"{page}: {errors}"
        assert (out / f"{page}.html").stat().st_size > 0


def test_index_leads_with_the_verdict_of_every_claim_and_links_each_pattern_page(rendered):
    study, out = rendered
    index = (out / "index.html").read_text()
    rows = report.comparison(study, out / "comparison.parquet")
    claims = rows[rows["claim"] != ""]
    table = index[index.index('<table class="verdicts"'):index.index("</table>")]
    assert table.count("<tr>") == len(report.verdict_table(claims)) + 1  # header + one row per claim (0 → 0 folded)
    assert re.search(r"<th>verdict</th>\s*<th>pattern</th>", table)
    for pattern in (*PATTERNS, *NOT_MEASURED):
        assert f'href="{pattern}.html"' in index and (out / f"{pattern}.html").exists()
    assert "redis-cache" in table and "holds" in table  # the planted −50 % lies in the claimed range


def test_every_page_says_what_was_absent_and_what_was_not_measured(rendered):
    _, out = rendered
    for page in ("index", "overview"):
        html = (out / f"{page}.html").read_text()
        assert "grafana was absent" in html
        assert "celery-metrics was not measured: the worker is absent" in html
    assert "Not measured: the worker is absent" in (out / "celery-metrics.html").read_text()


@pytest.mark.parametrize("page,least", [("overview", len(PATTERNS)), ("redis-cache", 5), ("aa", 4)])
def test_pages_embed_real_figures_and_no_code(rendered, page, least):
    _, out = rendered
    html = (out / f"{page}.html").read_text()
    images = _images(html)
    assert len(images) >= least
    for image in images:
        assert image.shape[0] > 100 and image.shape[1] > 100
        assert image[..., :3].std() > 0.01, "a blank figure"
    assert "load_pattern(" not in html and "import " not in html


def test_notebook_and_its_py_pair_hold_the_same_cells():
    assert NOTEBOOKS, "no notebook in notebooks/"
    for notebook in NOTEBOOKS:
        paired = notebook.with_suffix(".py")
        assert paired.exists(), f"{notebook.name} has no .py pair: run `jupytext --sync {notebook}`"
        compare_notebooks(jupytext.read(paired), jupytext.read(notebook), fmt="py:percent")


def test_committed_notebooks_carry_no_outputs_and_a_parameters_cell():
    for notebook in NOTEBOOKS:
        nb = nbformat.read(notebook, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code), notebook.name
        parameters = [c for c in code if "parameters" in c.metadata.get("tags", [])]
        assert len(parameters) == 1, f"{notebook.name}: one cell tagged parameters"
        if notebook in (report.OVERVIEW, report.PATTERN):  # the report hands every page these two
            assert "study" in parameters[0].source and "results_dir" in parameters[0].source


def test_a_failing_notebook_is_named_with_its_cell(rendered, tmp_path):
    study, _ = rendered
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"),
                                         nbformat.v4.new_code_cell("raise ValueError('planted failure')")])
    broken = tmp_path / "broken.ipynb"
    nbformat.write(nb, broken)
    page = report.Page("broken", broken, {})
    with pytest.raises(report.ReportError, match=r"broken\.ipynb .*cell 1 .*ValueError: planted failure"):
        report.execute_page(page, tmp_path)


def test_a_pattern_notebook_runs_with_only_study_and_results_dir_as_in_jupyterlab(rendered, tmp_path):
    study, _ = rendered
    page = report.Page("redis-cache", report.PATTERN, {"study": study.name, "results_dir": str(study.parent),
                                                       "pattern": "redis-cache"})
    html = report.execute_page(page, tmp_path).with_suffix(".html").read_text()
    assert "Claim holds: pg statements per request fell" in html and len(_images(html)) >= 5
