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
# # Auto-remediation: from fault to recovery
# Curable faults injected for real, the remediator's loop answering them (treatment) or nobody
# (baseline: the fault stays until the end of its window, where it is right-censored and the lab
# ends it as a person would). Time to recover is split into its stages from the remediator's audit
# trail. `sentinel-lab report` renders this notebook for every remediation pattern of the study.

# %% tags=["parameters"]
study = ""  # empty: the latest study
results_dir = ""  # empty: the lab's results directory (settings)
pattern = "auto-remediation"

# %%
# %matplotlib inline
import pandas as pd
from IPython.display import HTML, Markdown, display

from analysis import incidents, remediation, report, results, stats
from analysis import patterns as pats

path = report.study_dir(study, results_dir)
played = results.load_source(path, "incidents", pattern)
played = played[~played["warmup"].astype(bool)] if len(played) else played
plan = pats.get(pattern).incidents
Markdown(f"**{pattern}**: {len(played)} incidents over {played['run_id'].nunique() if len(played) else 0} runs; "
         f"each fault's window {plan.window_s:g} s (a fault still there then is censored), "
         f"the remediator's cooldown {plan.cooldown_s:g} s in both arms.")

# %% [markdown]
# ## Verdicts

# %%
rows = stats.compare_study(path)
rows = rows[rows["pattern"] == pattern] if len(rows) else rows
cols = [c for c in ("metric", "role", "claim", "baseline", "treatment", "change", "verdict", "why") if c in rows]
display(HTML(rows[cols].to_html(index=False, na_rep="—")) if len(rows) else Markdown("No claim rows."))

# %% [markdown]
# ## Time to recover and its stages, per arm and fault class
# Median and p90 in seconds with 95 % bootstrap intervals over incidents within runs; `≥ x` when the
# quantile falls among censored incidents (only a lower bound is known).

# %%
def _cell(q: dict) -> str:
    if q is None or (q.get("value") is None and q.get("at_least") is None):
        return "—"
    if q.get("value") is None:
        return f"≥ {q['at_least']:g}"
    return f"{q['value']:.2f} [{q['ci_low']:.2f}, {q['ci_high']:.2f}]" if q.get("ci_low") is not None \
        else f"{q['value']:.2f}"


summary = remediation.summaries(path).get(pattern, {})
table = [{"arm": arm, "class": kind, "incidents": s["incidents"], "censored": s["censored"],
          "resolved without a person": s["resolved_without_a_person"],
          "trail complete": s["trail_complete_share"],
          **{f"{col} {q}": _cell(s[col][q]) for col in ("ttr", *incidents.STAGES) for q in ("p50", "p90")}}
         for arm, per_class in summary.items() for kind, s in per_class.items()]
display(HTML(pd.DataFrame(table).to_html(index=False)) if table else Markdown("No incident was played."))

# %% [markdown]
# ## Dispatch: the direct path and the n8n path
# With n8n in the stack (`LAB_N8N=1`) every curable alert also reaches n8n's P3 workflow (model call,
# allow-list mapping, a call to the remediator): from the same firing, when each path reached the
# remediator, and what n8n adds (paired per incident). Without n8n the path is not measured.

# %%
paths = []
for arm, per_class in summary.items():
    for kind, s in per_class.items():
        n8n = s.get("n8n_path", incidents.N8N_NOT_MEASURED)
        if isinstance(n8n, str):
            paths.append({"arm": arm, "class": kind, "direct p50": _cell(s["dispatch"]["p50"]), "n8n": n8n})
            continue
        paths.append({"arm": arm, "class": kind, "reached / incidents": f"{n8n['reached']} / {n8n['incidents']}",
                      **{f"{name} {q}": _cell(n8n[key][q]) for name, key in
                         (("direct", "direct_dispatch"), ("n8n", "dispatch"), ("n8n adds", "added_to_direct"))
                         for q in ("p50", "p90")},
                      "n8n actions": n8n["actions"],
                      "decisions": "; ".join(f"{d}: {c}" for d, c in n8n["decisions"].items()),
                      "model": "; ".join(n8n["model"])})
display(HTML(pd.DataFrame(paths).to_html(index=False, na_rep="—")) if paths else Markdown("No incident was played."))

# %% [markdown]
# ## Safety
# From the audit trail: actions taken, actions other than the policy's for the incident's alert
# (unsafe, must be 0), more than one action for one incident (double, must be 0).

# %%
if len(played):
    safety = played.groupby("arm").agg(incidents=("kind", "size"), decisions=("decisions", "sum"),
                                       actions=("actions", "sum"), unsafe=("unsafe", "sum"),
                                       double=("actions", lambda a: int((a - 1).clip(lower=0).sum())),
                                       trail_complete=("trail_complete", "mean"))
    display(HTML(safety.to_html()))

# %% [markdown]
# ## Incident timeline
# Every incident: when the fault began, the alert fired, the remediator heard of it, acted, and the
# service was back (seconds from the fault's start).

# %%
if len(played):
    cols = ["run_id", "arm", "kind", "start", "censored", "ttr_s", "detect_s", "dispatch_s", "act_s", "recover_s",
            "outcome", "actions"]
    display(HTML(played[cols].sort_values(["run_id", "start"]).round(2).to_html(index=False, na_rep="—")))
