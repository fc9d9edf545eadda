"""Study reports: run the notebooks with papermill, convert them to HTML, write an index.

A report reads stored runs only (no load is run), so it can be rebuilt at any
time, e.g. on a schedule. The comparison is computed once per report and
handed to every notebook; notebooks opened in JupyterLab compute it themselves.
"""
from __future__ import annotations

import html
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import jinja2
import pandas as pd

from analysis import patterns, results
from analysis.plots import VERDICT_COLOURS, describe_change, percent
from analysis.settings import REPO, Settings

NOTEBOOKS = REPO / "notebooks"
OVERVIEW = NOTEBOOKS / "00_overview.ipynb"
PATTERN = NOTEBOOKS / "10_pattern.ipynb"
ALERTS = NOTEBOOKS / "20_alerts.ipynb"  # alert patterns: rules scored against fault timelines
KERNEL = "python3"


class ReportError(RuntimeError):
    """A report could not be rendered; the message names the notebook and the cell."""


@dataclass(frozen=True)
class Page:
    """One rendered page of a report: a notebook executed with its parameters."""

    name: str  # "overview" or a pattern id; the file stem of the .ipynb and .html
    notebook: Path
    parameters: dict


def study_dir(study: str = "", results_dir: str | Path = "") -> Path:
    """The directory of ``study`` (the latest study when empty) under ``results_dir`` (settings default)."""
    base = Path(results_dir) if results_dir else Settings.from_env().results_dir
    if study:
        path = base / study
        if not (path / "study.json").exists():
            raise ReportError(f"no study {study!r} in {base}; `ls {base}` lists the studies there")
        return path
    latest = results.latest_study(base)
    if latest is None:
        raise ReportError(f"no study in {base}; run `sentinel-lab study` first")
    return latest


def comparison(path: Path, comparison_file: str | Path = "") -> pd.DataFrame:
    """``stats.compare_study`` rows, read from ``comparison_file`` when the report already computed them."""
    if comparison_file and Path(comparison_file).exists():
        return pd.read_parquet(comparison_file)
    from analysis import stats

    return stats.compare_study(path)


def render(path: Path, reports_dir: Path, *, kernel_name: str = KERNEL, workers: int = 2,
           timeout_s: int = 300) -> Path:
    """Render the report of the study in ``path`` into ``reports_dir/<study>/``; returns index.html."""
    study = results.load_study(path)
    out = Path(reports_dir) / path.name
    out.mkdir(parents=True, exist_ok=True)
    rows = comparison(path)
    comparison_file = out / "comparison.parquet"
    rows.to_parquet(comparison_file, index=False)
    common = {"study": path.name, "results_dir": str(path.parent.resolve()),
              "comparison_file": str(comparison_file.resolve())}
    pages = [Page("overview", OVERVIEW, common)]
    pages += [Page(p, PATTERN, {**common, "pattern": p}) for p in study.meta.get("patterns", [])]
    pages += [Page(f"{p}-alerts", ALERTS, {"study": path.name, "results_dir": common["results_dir"], "pattern": p})
              for p in study.meta.get("patterns", []) if patterns.get(p).backtest]
    with ThreadPoolExecutor(max(1, workers)) as pool:
        list(pool.map(lambda page: execute_page(page, out, kernel_name, timeout_s), pages))
    index = out / "index.html"
    index.write_text(index_html(study.meta, rows, [p.name for p in pages]))
    return index


def execute_page(page: Page, out: Path, kernel_name: str = KERNEL, timeout_s: int = 300) -> Path:
    """Execute one page's notebook into ``out`` and convert it to HTML; a failure names the cell."""
    import nbformat
    import papermill as pm  # heavy: imported only to render, never by the notebooks themselves

    executed = out / f"{page.name}.ipynb"
    try:
        pm.execute_notebook(str(page.notebook), str(executed), parameters=page.parameters,
                            kernel_name=kernel_name, cwd=str(page.notebook.parent), progress_bar=False,
                            log_output=False, execution_timeout=timeout_s)
    except pm.PapermillExecutionError as e:
        code = [line for line in e.source.splitlines() if line.strip() and line.lstrip()[0] not in "%#"]
        raise ReportError(f"notebook {page.notebook.name} ({page.name}) failed in cell {e.cell_index} "
                          f"(In [{e.exec_count}]: `{code[0] if code else ''}`…): {e.ename}: {e.evalue}. "
                          f"The executed notebook "
                          f"with the traceback is {executed}") from e
    except Exception as e:
        if type(e).__name__ == "NoSuchKernel":
            raise ReportError(f"no Jupyter kernel {kernel_name!r}: register one with `python -m ipykernel "
                              f"install --user --name {kernel_name}` or pass another kernel") from e
        raise
    body = page_html(nbformat.read(executed, as_version=4))
    executed.with_suffix(".html").write_text(body)
    return executed


def page_html(notebook) -> str:
    """The notebook as HTML without code, with a link back to the verdict table."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(notebook)
    nav = '<nav style="padding:8px 16px"><a href="index.html">&larr; all verdicts</a></nav>'
    return re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + nav, body, count=1)


# -- what the notebooks and the index show ---------------------------------------------------

VERDICT_ORDER = {"refuted": 0, "holds": 1, "inconclusive": 2, "not measured": 3, "": 4}
TABLE_COLUMNS = ["verdict", "pattern", "claimed", "metric", "baseline", "treatment", "change [95 % CI]", "p",
                 "reason"]


def verdict_table(rows: pd.DataFrame, claims_only: bool = True) -> pd.DataFrame:
    """One row per claimed metric (every metric with ``claims_only=False``), verdict first,
    ordered so the surprising verdicts lead."""
    if claims_only and len(rows):
        rows = rows[rows["claim"].fillna("") != ""]
    if rows.empty:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    table = pd.DataFrame({
        "verdict": rows["verdict"].fillna("").replace("", "context"),
        "pattern": rows["pattern"],
        "claimed": rows["claim"].fillna(""),
        "metric": rows["metric"],
        "baseline": [_number(r.baseline, r.unit) for r in rows.itertuples()],
        "treatment": [_number(r.treatment, r.unit) for r in rows.itertuples()],
        "change [95 % CI]": [f"{percent(r.change)} [{percent(r.ci_low)}, {percent(r.ci_high)}]"
                              for r in rows.itertuples()],
        "p": [("n/a" if pd.isna(p) else f"{p:.3f}") for p in rows["p_value"]],
        "reason": rows["reason"],
    })
    order = rows["verdict"].fillna("").map(VERDICT_ORDER).fillna(9).to_numpy()
    return table.assign(_o=order).sort_values(["_o", "pattern"], kind="stable").drop(columns="_o") \
        .reset_index(drop=True)


def _number(value: float, unit: str) -> str:
    return "n/a" if pd.isna(value) else f"{value:.4g} {unit or ''}".strip()


_TABLE = jinja2.Template("""<style>
table.verdicts{border-collapse:collapse;width:100%} table.verdicts th,table.verdicts td{border-bottom:1px solid #ddd;
padding:6px 8px;text-align:left;vertical-align:top} table.verdicts th{background:#f4f4f4}
.verdict{font-weight:bold;color:#fff;border-radius:4px;padding:2px 6px;white-space:nowrap;background:#555}
{% for v, c in colours.items() %}.v-{{ v|replace(' ', '-') }}{background:{{ c }}}{% endfor %}
</style>
<table class="verdicts"><thead><tr>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr></thead><tbody>
{% for r in table %}<tr>
<td><span class="verdict v-{{ r.verdict|replace(' ', '-') }}">{{ r.verdict }}</span></td>
<td>{% if r.pattern in links %}<a href="{{ r.pattern }}.html">{{ r.pattern }}</a>{% else %}{{ r.pattern }}{% endif %}</td>
{% for c in columns[2:] %}<td>{{ r[c] }}</td>{% endfor %}</tr>
{% endfor %}</tbody></table>""", autoescape=True)


def verdict_table_html(rows: pd.DataFrame, claims_only: bool = True, links: frozenset[str] = frozenset()) -> str:
    """The verdict table as HTML, verdicts as coloured badges; patterns in ``links`` link to their page."""
    table = verdict_table(rows, claims_only)
    return _TABLE.render(table=table.to_dict("records"), columns=list(table.columns), links=links,
                         colours=VERDICT_COLOURS)


def absent_lines(meta: dict) -> list[str]:
    """What did not run and what that leaves unmeasured, as sentences."""
    lines = [f"{service} was absent: {why}" for service, why in (meta.get("absent") or {}).items()]
    lines += [f"{pattern} was not measured: {why}" for pattern, why in (meta.get("not_measured") or {}).items()]
    return lines


_INDEX = jinja2.Template("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sentinel Lab study {{ meta.study }}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}</style></head><body>
<h1>Study {{ meta.study }}</h1>
<p>{{ meta.stack }} stack, {{ meta.repeats }} repeats of {{ meta.duration_s }} s per arm, created {{ meta.created }}.
<a href="overview.html">Overview with the headline figures</a>.</p>
<h2>Verdicts</h2>
{{ table|safe }}
<h2>Pattern pages</h2>
<ul>{% for p in pages if p != "overview" %}<li><a href="{{ p }}.html">{{ p }}</a></li>{% endfor %}</ul>
<h2>What did not run</h2>
{% if absent %}<ul>{% for line in absent %}<li>{{ line }}</li>{% endfor %}</ul>
{% else %}<p>Every service ran and every pattern was measured.</p>{% endif %}
</body></html>
""", autoescape=True)


def index_html(meta: dict, rows: pd.DataFrame, pages: list[str]) -> str:
    return _INDEX.render(meta=meta, table=verdict_table_html(rows, links=frozenset(pages)), pages=pages,
                         absent=absent_lines(meta))


def study_summary(meta: dict) -> str:
    """Markdown: which stack ran, how long, and what was absent."""
    lines = [f"**Study {meta.get('study')}** on the **{meta.get('stack')}** stack: "
             f"{meta.get('repeats')} repeats of {meta.get('duration_s')} s per arm, created {meta.get('created')}.",
             "", "Patterns: " + ", ".join(f"`{p}`" for p in meta.get("patterns", [])), ""]
    absent = absent_lines(meta)
    lines += [f"- {html.escape(line)}" for line in absent] or ["Every service ran and every pattern was measured."]
    return "\n".join(lines)


# -- a pattern's page ------------------------------------------------------------------------

SERVICE_LEVEL = ("throughput_rps", "error_rate")


@dataclass
class PatternData:
    """What a pattern's page shows: its definition, the runs the stats use (no warm-up, no
    untrusted run) and its comparison rows."""

    pattern: patterns.Pattern
    meta: dict
    runs: pd.DataFrame
    requests: pd.DataFrame
    per_run: pd.DataFrame  # run_id, arm, repeat, metric, value, unit: one value per run and metric
    comparison: pd.DataFrame

    @property
    def not_measured(self) -> str:
        """Why the pattern has no data ('' when it has)."""
        reason = (self.meta.get("not_measured") or {}).get(self.pattern.id)
        return reason or ("" if len(self.runs) else "the study holds no complete run of it")

    @property
    def service_metrics(self) -> list[str]:
        return [m.name for m in self.pattern.metrics if m.source == "latency" or m.name in SERVICE_LEVEL]

    @property
    def own_metrics(self) -> list[str]:
        return [m.name for m in self.pattern.metrics if m.name not in self.service_metrics]


def load_pattern(study: str, results_dir: str, pattern_id: str, comparison_file: str = "") -> PatternData:
    path = study_dir(study, results_dir)
    pattern = patterns.get(pattern_id)
    all_runs = results.runs(path)
    runs = all_runs[(all_runs["pattern"] == pattern_id) & ~all_runs["warmup"].astype(bool)
                    & ~all_runs["untrusted"].astype(bool)]
    requests = results.load_source(path, "requests", pattern_id)
    requests = requests[requests["run_id"].isin(runs["run_id"])] if len(requests) else requests
    derived = results.load_source(path, "derived", pattern_id)
    derived = derived[derived["run_id"].isin(runs["run_id"])] if len(derived) else derived
    rows = comparison(path, comparison_file)
    return PatternData(pattern, results.load_study(path).meta, runs.reset_index(drop=True), requests,
                       per_run_values(pattern, derived, requests), rows[rows["pattern"] == pattern_id])


def per_run_values(pattern: patterns.Pattern, derived: pd.DataFrame, requests: pd.DataFrame) -> pd.DataFrame:
    """Each metric of ``pattern`` as one value per run, the way the stats read it (rates per request)."""
    columns = ["run_id", "arm", "repeat", "metric", "value", "unit"]
    out = []
    if len(derived):
        wide = derived.pivot_table(index=["run_id", "arm", "repeat"], columns="metric", values="value")
        for m in (m for m in pattern.metrics if m.source == "derived"):
            column = m.count or m.name
            if column not in wide:
                continue
            value = wide[column] / wide["requests"] if m.count else wide[column]
            out.append(value.rename("value").reset_index().assign(metric=m.name, unit=m.unit))
    if len(requests):
        ok = requests[requests["success"].astype(bool)]
        for m in (m for m in pattern.metrics if m.source == "latency"):
            rows = ok[ok["name"].astype(str).str.contains(m.endpoint, regex=False)] if m.endpoint else ok
            grouped = rows.groupby(["run_id", "arm", "repeat"])["response_time_ms"]
            value = grouped.quantile(m.quantile) if m.quantile is not None else grouped.mean()
            out.append(value.rename("value").reset_index().assign(metric=m.name, unit=m.unit))
    return pd.concat(out, ignore_index=True)[columns] if out else pd.DataFrame(columns=columns)


def claim_bands(pattern: patterns.Pattern) -> dict[str, tuple[float | None, float | None]]:
    """The claimed relative change per metric, as the shaded range of ``plots.change_forest``."""
    bands = {}
    for e in pattern.expectations:
        if e.kind in {"decrease", "increase"}:
            bands[e.metric] = (e.low, e.high)
        elif e.kind == "at_most":
            bands[e.metric] = (None, e.high)
        elif e.kind in {"none", "no_regression"}:
            noise = next((m.noise for m in pattern.metrics if m.name == e.metric), patterns.DEFAULT_NOISE)
            bands[e.metric] = (-noise, noise) if e.kind == "none" else \
                ((None, noise) if _better(pattern, e.metric) == "lower" else (-noise, None))
    return bands


def _better(pattern: patterns.Pattern, metric: str) -> str:
    return next((m.better for m in pattern.metrics if m.name == metric), "none")


def claim_rows(pattern: patterns.Pattern, rows: pd.DataFrame) -> pd.DataFrame:
    """The comparison rows of the pattern's claims, in the order the pattern states them."""
    order = {e.metric: i for i, e in enumerate(pattern.expectations)}
    claimed = rows[rows["metric"].isin(order)]
    return claimed.assign(_o=claimed["metric"].map(order)).sort_values("_o").drop(columns="_o")


def verdict_sentence(pattern: patterns.Pattern, rows: pd.DataFrame, not_measured: str = "") -> str:
    """The claim's verdict in one sentence, led by its first (headline) expectation."""
    if not_measured:
        return f"Not measured: {not_measured}."
    claimed = claim_rows(pattern, rows)
    if claimed.empty:
        return "No comparison for this claim: the study holds no rows for its metrics."
    head = claimed.iloc[0]
    others = claimed.iloc[1:]["verdict"].value_counts()
    tail = "; other checks: " + ", ".join(f"{n} {v}" for v, n in others.items()) if len(others) else ""
    return f"Claim {head['verdict']}: {describe_change(head, with_verdict=False)}{tail}."


def pattern_intro(data: PatternData) -> str:
    """Markdown: what the pattern changes, the claim, and how it was measured."""
    p, meta = data.pattern, data.meta
    toggles = sorted(set(p.baseline) | set(p.treatment))
    arms = "\n".join(f"| `{t}` | {p.baseline.get(t, '(default)')} | {p.treatment.get(t, '(default)')} |"
                      for t in toggles) or "| (none) | same | same |"
    expectations = "\n".join(f"- `{e.metric}`: {e.describe()}" for e in p.expectations)
    workload = ", ".join(f"{k.replace('_', ' ')} `{', '.join(map(str, v)) if isinstance(v, tuple) else v}`"
                         for k, v in asdict(p.workload).items() if v not in ("", (), None))
    return (f"# {p.id}: {p.title}\n\n**Claim.** {p.claim}\n\n**As numbers** (treatment vs baseline):\n"
            f"{expectations}\n\n**What changes.**\n\n| toggle | baseline | treatment |\n|---|---|---|\n"
            f"{arms}\n\n**Setup.** {meta.get('stack')} stack; workload {workload}; "
            f"{len(data.runs)} measured runs ({meta.get('repeats')} repeats per arm of "
            f"{meta.get('duration_s')} s, interleaved, warm-up discarded).")
