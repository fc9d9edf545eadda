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
# # Explore a run
# Any stored run of a study, source by source: the requests Locust made, what Prometheus recorded,
# the Postgres statements it caused, Redis's counters and the log lines. Each cell reads one source;
# edit it to ask your own question (`run.frames` holds every stored frame, `lab.query` and `lab.logs`
# reach the live servers and the log files).

# %% tags=["parameters"]
study = ""  # empty: the latest study
run = ""  # empty: the study's first measured run
results_dir = ""  # empty: the lab's results directory (settings)

# %%
# %matplotlib inline
import pandas as pd
from IPython.display import Markdown, display

from analysis import lab, load_plots, plots, results
from analysis.collect import redis as redis_collect

stored = lab.open_run(study, run, results_dir)
m = stored.meta
others = results.runs(stored.study_dir)
Markdown(f"**Run `{m.run_id}`** of study `{stored.study_dir.name}`: pattern `{m.pattern}`, arm **{m.arm}**, "
         f"repeat {m.repeat}{' (warm-up)' if m.warmup else ''}, {m.start} → {m.end}.\n\n"
         f"Toggles: {', '.join(f'`{k}={v}`' for k, v in m.toggles.items()) or 'defaults'}. "
         f"Sources stored: {', '.join(sorted(stored.frames))}. "
         + (f"**Untrusted**: {m.untrusted_reason}" if m.untrusted else "")
         + f"\n\nOther runs of the study: {', '.join(others['run_id'])}")

# %% [markdown]
# ## Requests
# Every request of the run, as the pattern page shows them: the latency distribution, then
# throughput and p95 over time.

# %%
requests = stored.frames.get("requests")
if requests is not None and len(requests):
    display(plots.latency_cdf(requests))
    display(plots.timeline(requests, stored.runs, bin_s=1))
    display(requests.groupby("name")["response_time_ms"].describe(percentiles=[0.5, 0.95]).round(1))

# %% [markdown]
# ## Prometheus
# The series the study stored for the run's window, one panel per query.

# %%
prometheus = stored.frames.get("prometheus")
if prometheus is not None and len(prometheus):
    display(load_plots.panels(prometheus, stored.start))
else:
    display(Markdown("No Prometheus series stored for this run (the pattern does not collect them)."))

# %% [markdown]
# ## Postgres
# What the run's statements cost (`pg_stat_statements` after minus before), heaviest first.

# %%
lab.pg_top(stored.frames.get("postgres", pd.DataFrame()), 10)

# %% [markdown]
# ## Redis
# Counter increases over the run (hits, misses, commands) and the busiest commands.

# %%
changes = stored.frames.get("redis")
if changes is not None and len(changes):
    seconds = (stored.end - stored.start).total_seconds()
    display(Markdown(f"Key lookups hit {redis_collect.hit_ratio(changes):.0%} of the time."))
    display(load_plots.redis_commands(changes, seconds))
    display(changes[changes["metric"].isin(sorted(redis_collect.COUNTERS))]
            .groupby("metric")["value"].sum().to_frame())

# %% [markdown]
# ## Logs
# Log lines per service and level in 5 s windows, as stored; then the error lines of the window,
# read from the log files (local stack) or Loki (compose) while they are still there.

# %%
counts = stored.frames.get("logs")
if counts is not None and len(counts):
    display(counts.pivot_table(index="timestamp", columns=["service", "level"], values="value", aggfunc="sum")
            .fillna(0).astype(int))
try:
    display(lab.logs(start=stored.start, end=stored.end, level="error")[["timestamp", "service", "message"]])
except (FileNotFoundError, ConnectionError) as exc:
    display(Markdown(f"The live logs are gone: {exc}"))

# %% [markdown]
# ## The run's own scalars
# What the statistics compare, one value per run.

# %%
stored.frames.get("derived")
