# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     notebook_metadata_filter: kernelspec,jupytext
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Run a study
# Stands the stack up if it is not running, runs the patterns' baseline and treatment arms
# interleaved and repeated (a progress bar shows the run and the time left), shows the verdicts and
# the headline figures, renders the HTML report, and takes the stack down unless `keep_up`.
# The stop button keeps every finished run and restores the toggles; the cells below then show
# what was measured. Under papermill this notebook is the whole scheduled job:
# `papermill notebooks/01_run_study.ipynb out.ipynb -p patterns '["redis-cache"]' -p quick true`.

# %% tags=["parameters"]
patterns = ["redis-cache"]  # pattern ids; `sentinel-lab patterns` lists them
quick = True  # 4 repeats of 8 s after a 4 s warm-up (overridden by the values below)
repeats = 0  # runs per arm; 0: the default (3, or 4 with quick)
duration = 0.0  # seconds of load per run; 0: the default (60 s, or 8 s with quick)
warmup = -1.0  # seconds of the discarded warm-up run; -1: the default (15 s, or 4 s with quick)
users = 0  # 0: each pattern's own workload
stack = ""  # "": LAB_STACK or local; "compose" for the Docker stack
keep_up = False  # leave the stack running afterwards (a stack that was already up stays up)
render_report = True  # write reports/<study>/index.html
study_id = ""  # "": <UTC time>-<patterns>

# %%
# %matplotlib inline
from IPython.display import HTML, Markdown, display

from analysis import lab, patterns as pattern_catalogue, plots, report, results

outcome = lab.study(patterns, repeats=repeats or None, quick=quick, duration=duration or None,
                    warmup=None if warmup < 0 else warmup, users=users or None, keep_up=keep_up,
                    study_id=study_id, stack=stack or None)
meta = results.load_study(outcome.study_dir).meta
Markdown(report.study_summary(meta) + ("\n\n**Interrupted**: the verdicts below use the runs that finished."
                                       if outcome.interrupted else ""))

# %% [markdown]
# ## Verdicts
# One row per claim, verdict first; refuted claims lead.

# %%
HTML(report.verdict_table_html(outcome.comparison))

# %% [markdown]
# ## Headline figures
# Each claim's change with its 95 % confidence interval (line), against the claimed range (shade).

# %%
for pattern_id in meta.patterns:
    pattern = pattern_catalogue.get(pattern_id)
    rows = outcome.comparison
    claimed = report.claim_rows(pattern, rows[rows["pattern"] == pattern_id]) if len(rows) else rows
    reason = meta.not_measured.get(pattern_id, "")
    display(Markdown(f"### {pattern_id}: {pattern.title}"))
    if reason or claimed.empty:
        display(Markdown(report.verdict_sentence(pattern, claimed, reason or "no finished run")))
        continue
    display(plots.change_forest(claimed, report.claim_bands(pattern),
                                title=report.verdict_sentence(pattern, claimed)))

# %% [markdown]
# ## The report
# The same study as HTML pages (`reports/<study>/index.html`), rebuilt from the stored runs.

# %%
if render_report and len(outcome.comparison):
    index = lab.render_report(outcome.study_dir, stack=stack or None)
    display(Markdown(f"Report: [{index}]({index.as_uri()})"))
else:
    display(Markdown("No report rendered (`render_report` is off, or no run finished)."))
print(f"study {outcome.study}: {len(outcome.completed)} runs stored in {outcome.study_dir}")
