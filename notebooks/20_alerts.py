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
# # Alerts backtest
# An alert pattern's rule sets scored against labelled fault timelines played for real on the stack:
# which faults each rule caught, how fast, and how often it fired when nothing was wrong.
# `sentinel-lab report` renders this notebook once per alert pattern of the study.

# %% tags=["parameters"]
study = ""  # empty: the latest study
results_dir = ""  # empty: the lab's results directory (settings)
pattern = "correlated-alerts"

# %%
# %matplotlib inline
from IPython.display import HTML, Markdown, display

from analysis import alert_plots, backtest
from analysis import patterns as pats
from analysis import report

path = report.study_dir(study, results_dir)
spec = pats.get(pattern).backtest
rulesets = [spec.baseline, spec.treatment, *spec.context]
played = backtest.load_played(path)
Markdown(f"**{pattern}**: {len(played)} timelines; rule sets compared: baseline `{spec.baseline}`, "
         f"treatment `{spec.treatment}`" + (f", beside them `{'`, `'.join(spec.context)}`" if spec.context else "")
         + ". An alert that starts in a fault window (or the 4 s after it, up to the next window) is a true "
         "alert; any other is false. The row *as delivered* scores only what Alertmanager delivered to the "
         "lab's receiver; its time to detect is the time to notify.")

# %% [markdown]
# ## Precision and recall per rule
# Over every timeline; 95 % bootstrap intervals over fault windows within timelines.

# %%
if played:
    table = backtest.rule_table(played, rulesets)
    display(HTML(table.round(3).to_html(index=False, na_rep="—")))
else:
    display(Markdown("No timeline was played in this study: nothing to score."))

# %% [markdown]
# ## The first timeline
# Fault windows shaded by class, benign events hatched; beneath, when each rule fired.

# %%
if played:
    display(alert_plots.fault_timeline(played[0], rulesets))

# %% [markdown]
# ## Time to detect

# %%
if played:
    display(alert_plots.ttd_distribution(played, rulesets))

# %% [markdown]
# ## What each timeline injected
# Planned and real start of every window (seconds from the timeline's start); an error means the
# fault was not injected as planned, and the runs of that timeline are marked untrusted.

# %%
for i, p in enumerate(played):
    display(Markdown(f"**timeline r{i}** (seed {int(p.truth['seed'].iloc[0])})" +
                     (f": errors: {'; '.join(p.errors)}" if p.errors else "")))
    display(HTML(p.truth[["kind", "benign", "start_s", "started_s", "ended_s", "intensity"]]
                 .to_html(index=False)))
