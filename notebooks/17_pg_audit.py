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
# # P7 Postgres query audit
# What each audit setting costs (throughput, p95, log volume), what it catches (planted slow
# statements, the workload's writes and DDL) and what it leaks (planted password changes of a
# throwaway role), every arm against no statement logging. `sentinel-lab report` renders this
# page for the `pg-audit` pattern; a full study adds the other arms (`pg-audit-<arm>`).

# %% tags=["parameters"]
study = ""  # empty: the latest study
results_dir = ""  # empty: the lab's results directory (settings)
pattern = "pg-audit"
comparison_file = ""  # empty: compute the comparison here

# %%
# %matplotlib inline
from IPython.display import HTML, Markdown, display

from analysis import audit_report, plots, report

data = report.load_pattern(study, results_dir, pattern, comparison_file)
arms = [report.load_pattern(study, results_dir, p, comparison_file) for p in audit_report.audit_patterns(data.meta)]
arms = [a for a in arms if len(a.runs)]
Markdown(report.pattern_intro(data))

# %% [markdown]
# ## Verdict (the design document's configuration)

# %%
display(Markdown(report.verdict_sentence(data.pattern, data.comparison, data.not_measured)))
HTML(report.verdict_table_html(data.comparison))

# %% [markdown]
# ## Overhead per arm
# Relative change against no statement logging, with its 95 % interval; the shade is the bound
# the lab reads into the claim (p95 at most +10 %, throughput at most −5 %).

# %%
overhead, bands = audit_report.overhead_rows(arms)
if len(overhead):
    display(plots.change_forest(overhead, bands, title="Overhead of each audit setting"))

# %% [markdown]
# ## Log volume, slow-query recall, audit completeness and leaks per arm
# Means over the treatment runs. Recall counts a planted slow statement as found when one log
# entry holds both its text and its duration; "paired" also counts a statement whose backend's
# next entry is a bare duration line (what a reader must do when `log_statement` and
# `log_min_duration_statement` are both on). Leaks are the planted password changes the
# detector (`analysis.audit`) found in the log; the error path leaks whatever is configured.

# %%
table = audit_report.figures(arms)
display(table.set_index("arm").round(3))

# %% [markdown]
# ## Recommendation
# Written from the figures above: ✓ where the arm's measured figure meets the guarantee.

# %%
recommend = audit_report.recommendations(table, overhead)
HTML(recommend.to_html(index=False, escape=True))

# %% [markdown]
# ## Every comparison (the design's configuration)

# %%
HTML(report.verdict_table_html(data.comparison, claims_only=False))
