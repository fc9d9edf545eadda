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
# # Capacity and dose–response
# A capacity study steps the load up to saturation: throughput and p95 per level for each arm, the
# Universal Scalability Law fitted to them, the SLO line, the knee and the maximum sustainable
# throughput with its interval over runs, and which service runs out of CPU first. A sweep study
# shows each metric against the swept toggle's value. `sentinel-lab report` renders this page for
# capacity and sweep studies.

# %% tags=["parameters"]
study = ""  # empty: the latest study
results_dir = ""  # empty: the lab's results directory (settings)
pattern = "all-on"

# %%
# %matplotlib inline
from IPython.display import HTML, Markdown, display

from analysis import capacity, capacity_plots, report, results, sweep
from analysis import patterns as pats

path = report.study_dir(study, results_dir)
stored = results.load_study(path)
meta = stored.meta
levels = results.load_source(path, "levels", pattern)
arms = [a for a in ("baseline", "treatment") if len(levels) and (levels["arm"] == a).any()]
summaries = [capacity.summarize(path, pattern, arm) for arm in arms]
open_loop = any("arrival-rates" in (m.workload.get("options") or {}) for m in stored.runs if m.pattern == pattern)
Markdown(f"**{pattern}** in study `{path.name}`: {pats.get(pattern).claim}")

# %% [markdown]
# ## Throughput and p95 against offered load

# %%
if summaries:
    display(capacity_plots.capacity_curves(summaries, open_loop))
else:
    display(Markdown("This study holds no capacity levels of this pattern."))

# %% [markdown]
# ## The numbers
# Per arm: the maximum sustainable throughput at the SLO (95 % interval over runs) and the USL
# parameters with bootstrap intervals over the measured levels.

# %%
for s in summaries:
    m, u = s.max_sustainable, s.usl
    fit = "; ".join(f"{k} {v.estimate:.4g} [{v.low:.4g}, {v.high:.4g}]" for k, v in u.items()) if u else "no fit"
    display(Markdown(f"**{s.arm}** ({s.runs} runs, SLO {s.slo.describe()}): maximum sustainable throughput "
                     f"**{m.estimate:.1f} req/s** [{m.low:.1f}, {m.high:.1f}]; USL (R² {s.usl_r2:.3f}): {fit}"
                     + (f". The load generator saturated at levels {s.saturated_levels}: left out."
                        if s.saturated_levels else "")))
    display(HTML(s.table.round(3).to_html(index=False, na_rep="—")))

# %% [markdown]
# ## Which service saturates first

# %%
for arm in arms:
    load = capacity.service_load(path, pattern, arm)
    display(Markdown(f"**{arm}**: {capacity.saturation_finding(load)}."))
    if len(load):
        display(capacity_plots.service_cpu(load, arm))

# %% [markdown]
# ## Dose–response (sweep studies)

# %%
if meta.sweep:
    responses = [r for r in sweep.analyse(path) if r.pattern == pattern]
    display(capacity_plots.sweep_panels(responses))
    display(Markdown("\n".join(f"- {r.summary()}" for r in responses)))
    display(HTML(sweep.table(responses).round(4).to_html(index=False, na_rep="—")))
else:
    display(Markdown("Not a sweep study: `sentinel-lab study PATTERN --sweep NAME=V1,V2,…` makes one."))
