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
# # Pattern report
# One optimisation pattern: what it changes, the claim, the setup, the figures and the verdict.
# `sentinel-lab report` renders this notebook once per pattern of the study.

# %% tags=["parameters"]
study = ""  # empty: the latest study
results_dir = ""  # empty: the lab's results directory (settings)
pattern = "redis-cache"
comparison_file = ""  # empty: compute the comparison here

# %%
# %matplotlib inline
from IPython.display import HTML, Markdown, display

from analysis import plots, report

data = report.load_pattern(study, results_dir, pattern, comparison_file)
Markdown(report.pattern_intro(data))

# %% [markdown]
# ## Verdict

# %%
claimed = report.claim_rows(data.pattern, data.comparison)
display(Markdown(report.verdict_sentence(data.pattern, data.comparison, data.not_measured)))
if not claimed.empty and not data.not_measured:
    display(plots.change_forest(claimed, report.claim_bands(data.pattern, claimed)))

# %% [markdown]
# ## Latency per arm
# Every request of every measured run: thin lines are single repeats, bold lines the arm pooled.
# The title states the run-level p95 comparison the verdict table shows.

# %%
if len(data.requests):
    display(plots.latency_cdf(data.requests, report.headline_row(data.comparison, "p95_ms")))

# %% [markdown]
# ## Throughput and latency over time
# Runs interleave baseline and treatment; the shading shows which arm ran when.

# %%
if len(data.requests):
    display(plots.timeline(data.requests, data.runs, row=report.headline_row(data.comparison, "throughput_rps")))

# %% [markdown]
# ## Before and after
# Service-level metrics, then the pattern's own: the mean of the repeats with its 95 % interval.

# %%
for metrics in (data.service_metrics, data.own_metrics):
    if set(metrics) & set(data.per_run["metric"]):
        display(plots.arm_bars(data.per_run, metrics, data.comparison))

# %% [markdown]
# ## Every comparison

# %%
display(Markdown("\n\n".join(report.method_lines(data.comparison))))
HTML(report.verdict_table_html(data.comparison, claims_only=False))
