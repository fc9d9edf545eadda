"""Study reports: run the notebooks with papermill, convert them to HTML, write an index.

A report reads stored runs only (no load is run), so it can be rebuilt at any
time, e.g. on a schedule. The comparison is computed once per report and
handed to every notebook; notebooks opened in JupyterLab compute it themselves.
"""
from __future__ import annotations

import html
import math
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import jinja2
import pandas as pd
from markupsafe import Markup, escape

from analysis import patterns, results, stats
from analysis.plots import change_text, describe_change
from analysis.stats import VERDICT_COLOURS
from analysis.settings import REPO, Settings
from analysis.stack import compose

NOTEBOOKS = REPO / "notebooks"
OVERVIEW = NOTEBOOKS / "00_overview.ipynb"
PATTERN = NOTEBOOKS / "10_pattern.ipynb"
#: patterns with a page of their own (the others use PATTERN)
PATTERN_PAGES = {"pg-audit": NOTEBOOKS / "17_pg_audit.ipynb"}
ALERTS = NOTEBOOKS / "20_alerts.ipynb"  # alert patterns: rules scored against fault timelines
CAPACITY = NOTEBOOKS / "30_capacity.ipynb"  # capacity patterns (load levels) and sweep studies
REMEDIATION = NOTEBOOKS / "30_remediation.ipynb"  # remediation patterns: incidents, stages, safety
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
    return stats.compare_study(path)


def render(path: Path, reports_dir: Path, *, kernel_name: str = KERNEL, workers: int = 2,
           timeout_s: int = 300) -> Path:
    """Render the report of the study in ``path`` into ``reports_dir/<study>/``; returns index.html."""
    study = results.load_study(path)
    out = Path(reports_dir) / path.name
    out.mkdir(parents=True, exist_ok=True)
    rows = comparison(path)
    if study.meta.sweep:  # no two arms to compare: each swept value is judged on the capacity page
        rows = rows.assign(verdict="not measured", reason=[f"a sweep of {study.meta.sweep['toggle']}: the "
                                                           f"claim per value is on the {p}-capacity page"
                                                           for p in rows["pattern"]])
    comparison_file = out / "comparison.parquet"
    rows.to_parquet(comparison_file, index=False)
    common = {"study": path.name, "results_dir": str(path.parent.resolve()),
              "comparison_file": str(comparison_file.resolve())}
    pages = [Page("overview", OVERVIEW, common)]
    pages += [Page(p, PATTERN_PAGES.get(p, PATTERN), {**common, "pattern": p})
              for p in study.meta.patterns if not study.meta.sweep]  # a sweep has no two arms
    pages += [Page(f"{p}-alerts", ALERTS, {"study": path.name, "results_dir": common["results_dir"], "pattern": p})
              for p in study.meta.patterns if patterns.get(p).backtest]
    pages += capacity_pages(path.name, common["results_dir"], study.meta)
    pages += [Page(f"{p}-remediation", REMEDIATION, {"study": path.name, "results_dir": common["results_dir"],
                                                     "pattern": p})
              for p in study.meta.patterns if patterns.get(p).incidents]
    with ThreadPoolExecutor(max(1, workers)) as pool:
        list(pool.map(lambda page: execute_page(page, out, kernel_name, timeout_s), pages))
    index = out / "index.html"
    index.write_text(index_html(study.meta, rows, [p.name for p in pages]))
    return index


def capacity_pages(study: str, results_dir: str, meta: results.StudyMeta) -> list[Page]:
    """The capacity page of each capacity pattern (load levels) of a study, or of each pattern of a sweep."""
    return [Page(f"{p}-capacity", CAPACITY, {"study": study, "results_dir": results_dir, "pattern": p})
            for p in meta.patterns if patterns.get(p).workload.levels or meta.sweep]


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
TABLE_COLUMNS = ["verdict", "pattern", "claimed", "metric", "role", "baseline", "treatment", "change [CI]", "p",
                 "reason"]


def _trivial(row) -> bool:
    """A no-regression check with nothing to see: 0 in every run of both arms."""
    return (row.get("claim") == "no regression" and row.get("verdict") == "holds"
            and row.get("baseline") == 0 and row.get("treatment") == 0)


def fold_trivial(rows: pd.DataFrame) -> pd.DataFrame:
    """Trivially 0 → 0 no-regression checks become one line per pattern, so the claims stand out."""
    if rows.empty:
        return rows
    trivial = rows.apply(_trivial, axis=1).astype(bool)
    folded = []
    for pattern_id, group in rows[trivial].groupby("pattern", sort=False):
        line = dict.fromkeys(rows.columns, math.nan)
        names = ", ".join(group["metric"])
        line.update(pattern=pattern_id, metric=names, claim="no regression", verdict="holds", role="secondary",
                    scale="absolute", unit="", reason=f"0 in every run of both arms: {names}")
        folded.append(line)
    return pd.concat([rows[~trivial], pd.DataFrame(folded, columns=rows.columns)], ignore_index=True) \
        if folded else rows


def verdict_table(rows: pd.DataFrame, claims_only: bool = True) -> pd.DataFrame:
    """One row per claimed metric (every metric with ``claims_only=False``), verdict first,
    ordered so the surprising verdicts lead; trivially 0 → 0 checks fold into one line per pattern."""
    if claims_only and len(rows):
        rows = fold_trivial(rows[rows["claim"].fillna("") != ""])
    if rows.empty:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    records = rows.to_dict("records")
    table = pd.DataFrame({
        "verdict": rows["verdict"].fillna("").replace("", "context"),
        "pattern": rows["pattern"],
        "claimed": rows["claim"].fillna(""),
        "metric": rows["metric"],
        "role": rows["role"].astype(object).fillna("") if "role" in rows else "",
        "baseline": [_number(r.baseline, r.unit) for r in rows.itertuples()],
        "treatment": [_number(r.treatment, r.unit) for r in rows.itertuples()],
        "change [CI]": ["" if pd.isna(r["change"]) else
                        f"{change_text(r, r['change'])} [{change_text(r, r['ci_low'])}, {change_text(r, r['ci_high'])}]"
                        for r in records],
        "p": [("n/a" if pd.isna(p) else f"{p:.3f}") for p in rows["p_value"]],
        "reason": rows["reason"],
    })
    order = rows["verdict"].fillna("").map(VERDICT_ORDER).fillna(9).to_numpy()
    return table.assign(_o=order).sort_values(["_o", "pattern"], kind="stable").drop(columns="_o") \
        .reset_index(drop=True)


def _number(value: float, unit: str) -> str:
    return "n/a" if pd.isna(value) else f"{value:.4g} {unit if isinstance(unit, str) else ''}".strip()


def method_lines(rows: pd.DataFrame) -> list[str]:
    """How the verdicts were reached: the unit, the correction, and where the noise thresholds came from."""
    sources = sorted({s for s in rows.get("noise_source", pd.Series(dtype=str)).dropna() if s})
    return ["The run is the unit: each metric is one value per run (a run's own p50/p95/p99), compared "
            "over runs with a paired t on the ABBA blocks (Welch's t when a run is missing), on the logarithm "
            "for relative changes; the `runs` column says which.",
            f"Each pattern's primary claim is judged on a {100 * (1 - stats.ALPHA):.0f} % interval; its secondary "
            f"checks are corrected together with Bonferroni, a family-wise false-positive rate of at most "
            f"{stats.ALPHA * 100:.0f} % per pattern.",
            "Noise thresholds: " + ("; ".join(sources) if sources else "the patterns' constants") + "."]


_TABLE = jinja2.Template("""<style>
table.verdicts{border-collapse:collapse;width:100%} table.verdicts th,table.verdicts td{border-bottom:1px solid #ddd;
padding:6px 8px;text-align:left;vertical-align:top} table.verdicts th{background:#f4f4f4}
.verdict{font-weight:bold;color:#fff;border-radius:4px;padding:2px 6px;white-space:nowrap;background:#555}
table.verdicts td:last-child{min-width:12em}
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
    wrapped = [{**r, **{c: _breakable(r[c]) for c in table.columns[2:]}} for r in table.to_dict("records")]
    return _TABLE.render(table=wrapped, columns=list(table.columns), links=links,
                         colours=VERDICT_COLOURS)


def _breakable(text: object) -> Markup:
    """``text`` escaped, free to wrap after ``_`` and ``/`` (metric names, units such as statements/request)."""
    return Markup(re.sub(r"([_/])", r"\1<wbr>", str(escape(text))))


def absent_lines(meta: results.StudyMeta) -> list[str]:
    """What did not run and what that leaves unmeasured, as sentences."""
    lines = [f"{service} was absent: {why}" for service, why in meta.absent.items()]
    lines += [f"{pattern} was not measured: {why}" for pattern, why in meta.not_measured.items()]
    if meta.stack == "compose":
        lines += [f"{what}: {why}" for what, why in compose.LIMITS.items()]
    return lines


_INDEX = jinja2.Template("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sentinel Lab study {{ meta.study }}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}</style></head><body>
<h1>Study {{ meta.study }}</h1>
<p>{{ meta.stack }} stack, {{ meta.repeats }} repeats of {{ meta.duration_s }} s per arm, created {{ meta.created }}.
<a href="overview.html">Overview with the headline figures</a>.</p>
<h2>Verdicts</h2>
{% for line in method %}<p>{{ line }}</p>{% endfor %}
{{ table|safe }}
<h2>Pattern pages</h2>
<ul>{% for p in pages if p != "overview" %}<li><a href="{{ p }}.html">{{ p }}</a></li>{% endfor %}</ul>
<h2>What did not run</h2>
{% if absent %}<ul>{% for line in absent %}<li>{{ line }}</li>{% endfor %}</ul>
{% else %}<p>Every service ran and every pattern was measured.</p>{% endif %}
</body></html>
""", autoescape=True)


def index_html(meta: results.StudyMeta, rows: pd.DataFrame, pages: list[str]) -> str:
    return _INDEX.render(meta=meta, table=verdict_table_html(rows, links=frozenset(pages)), pages=pages,
                         absent=absent_lines(meta), method=method_lines(rows))


def study_summary(meta: results.StudyMeta) -> str:
    """Markdown: which stack ran, how long, and what was absent."""
    lines = [f"**Study {meta.study}** on the **{meta.stack}** stack: "
             f"{meta.repeats} repeats of {meta.duration_s} s per arm, created {meta.created}.",
             "", "Patterns: " + ", ".join(f"`{p}`" for p in meta.patterns), ""]
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
    meta: results.StudyMeta
    runs: pd.DataFrame
    requests: pd.DataFrame
    per_run: pd.DataFrame  # run_id, arm, repeat, metric, value, unit: one value per run and metric
    comparison: pd.DataFrame

    @property
    def not_measured(self) -> str:
        """Why the pattern has no data ('' when it has)."""
        reason = self.meta.not_measured.get(self.pattern.id)
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
    study = results.load_study(path)
    all_runs = results.runs(path)
    runs = all_runs[all_runs["run_id"].isin([r.run_id for r in study.measured_runs(pattern_id)])]
    requests = results.load_source(path, "requests", pattern_id)
    requests = requests[requests["run_id"].isin(runs["run_id"])] if len(requests) else requests
    derived = results.load_source(path, "derived", pattern_id)
    derived = derived[derived["run_id"].isin(runs["run_id"])] if len(derived) else derived
    samples = results.load_source(path, "samples", pattern_id)
    samples = samples[samples["run_id"].isin(runs["run_id"])] if len(samples) else samples
    rows = comparison(path, comparison_file)
    return PatternData(pattern, study.meta, runs.reset_index(drop=True), requests,
                       per_run_values(pattern, derived, requests, samples), rows[rows["pattern"] == pattern_id])


def per_run_values(pattern: patterns.Pattern, derived: pd.DataFrame, requests: pd.DataFrame,
                   samples: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each metric of ``pattern`` as one value per run, exactly as the stats read it (analysis.stats.run_values)."""
    columns = ["run_id", "arm", "repeat", "metric", "value", "unit"]
    samples = samples if samples is not None else pd.DataFrame()
    repeats = pd.concat([f[["run_id", "repeat"]] for f in (derived, requests, samples) if len(f)]) \
        .drop_duplicates("run_id").set_index("run_id")["repeat"] if any(len(f) for f in (derived, requests, samples)) \
        else pd.Series(dtype=int)
    out = []
    for m in pattern.metrics:
        value = stats.run_values(m, derived, requests, samples)
        if len(value):
            frame = value.rename("value").reset_index().assign(metric=m.name, unit=m.unit)
            out.append(frame.assign(repeat=frame["run_id"].map(repeats)))
    return pd.concat(out, ignore_index=True)[columns] if out else pd.DataFrame(columns=columns)


def claim_bands(pattern: patterns.Pattern,
                rows: pd.DataFrame | None = None) -> dict[str, tuple[float | None, float | None]]:
    """The claimed change per metric, as the shaded range of ``plots.change_forest``; the noise
    threshold is the one the comparison ``rows`` used (calibrated or constant) when given."""
    used = {} if rows is None or "noise" not in rows else dict(zip(rows["metric"], rows["noise"]))
    bands = {}
    for e in pattern.expectations:
        if e.kind in {"decrease", "increase"}:
            bands[e.metric] = (e.low, e.high)
        elif e.kind == "at_most":
            bands[e.metric] = (None, e.high)
        elif e.kind in {"none", "no_regression"}:
            noise = used.get(e.metric)
            noise = pattern.metric(e.metric).noise if noise is None or pd.isna(noise) else float(noise)
            bands[e.metric] = (-noise, noise) if e.kind == "none" else \
                ((None, noise) if _better(pattern, e.metric) == "lower" else (-noise, None))
    return bands


def _better(pattern: patterns.Pattern, metric: str) -> str:
    return next((m.better for m in pattern.metrics if m.name == metric), "none")


def headline_row(rows: pd.DataFrame, suffix: str) -> pd.Series | None:
    """The comparison row a figure's title states: the first claimed metric ending in ``suffix``
    (``p95_ms``, ``throughput_rps``), else the first such metric; None when there is none."""
    match = rows[rows["metric"].astype(str).str.endswith(suffix)] if len(rows) else rows
    if match.empty:
        return None
    claimed = match[match["claim"].fillna("") != ""]
    return (claimed if len(claimed) else match).iloc[0]


def claim_rows(pattern: patterns.Pattern, rows: pd.DataFrame) -> pd.DataFrame:
    """The comparison rows of the pattern's claims: the primary first, then in the order the pattern states them."""
    order = {e.metric: i - len(pattern.expectations) * e.primary for i, e in enumerate(pattern.expectations)}
    claimed = rows[rows["metric"].isin(order)]
    return claimed.assign(_o=claimed["metric"].map(order)).sort_values("_o").drop(columns="_o")


def verdict_sentence(pattern: patterns.Pattern, rows: pd.DataFrame, not_measured: str = "") -> str:
    """The claim's verdict in one sentence, led by its primary expectation."""
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
    expectations = "\n".join(f"- `{e.metric}`: {p.describe(e.metric)} ({p.role(e.metric)})" for e in p.expectations)
    workload = ", ".join(f"{k.replace('_', ' ')} `{', '.join(map(str, v)) if isinstance(v, tuple) else v}`"
                         for k, v in asdict(p.workload).items() if v not in ("", (), None))
    return (f"# {p.id}: {p.title}\n\n**Claim.** {p.claim}\n\n**As numbers** (treatment vs baseline):\n"
            f"{expectations}\n\n**What changes.**\n\n| toggle | baseline | treatment |\n|---|---|---|\n"
            f"{arms}\n\n**Setup.** {meta.stack} stack; workload {workload}; "
            f"{len(data.runs)} measured runs ({meta.repeats} repeats per arm of "
            f"{meta.duration_s} s, interleaved, warm-up discarded).")
