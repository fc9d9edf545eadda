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
# # Study overview
# Which stack ran and what was absent, the verdict for every claim, and one headline figure per
# pattern. Rendered by `sentinel-lab report`; open it in JupyterLab to explore the same data.

# %% tags=["parameters"]
study = ""  # empty: the latest study
results_dir = ""  # empty: the lab's results directory (settings)
comparison_file = ""  # empty: compute the comparison here

# %%
# %matplotlib inline
from IPython.display import HTML, Markdown, display

from analysis import patterns, plots, report, results

path = report.study_dir(study, results_dir)
meta = results.load_study(path).meta
rows = report.comparison(path, comparison_file)
Markdown(report.study_summary(meta))

# %% [markdown]
# ## Verdicts
# One row per claim, verdict first; refuted claims lead.

# %%
display(Markdown("\n\n".join(report.method_lines(rows))))
HTML(report.verdict_table_html(rows))

# %% [markdown]
# ## One headline figure per pattern
# Each claim's change with its 95 % confidence interval (line), against the claimed range (shade).

# %%
for pattern_id in meta.patterns:
    pattern = patterns.get(pattern_id)
    reason = meta.not_measured.get(pattern_id, "")
    claimed = report.claim_rows(pattern, rows[rows["pattern"] == pattern_id])
    display(Markdown(f"### {pattern_id}: {pattern.title}"))
    if reason or claimed.empty:
        display(Markdown(report.verdict_sentence(pattern, claimed, reason)))
        continue
    display(plots.change_forest(claimed, report.claim_bands(pattern, claimed),
                                title=report.verdict_sentence(pattern, claimed)))
