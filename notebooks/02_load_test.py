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
# # Load test
# One Locust run against the running stack (`lab.up()` or `sentinel-lab up` first), then what the
# load generator measured beside what the servers saw over the same window: Prometheus, the heaviest
# Postgres statements, Redis's command mix and the error lines of the logs. Locust runs in its own
# process; the run is stored under `results/load/`.

# %% tags=["parameters"]
workload = "api"  # api, truthsync, or a locustfile path
users = 10
spawn_rate = 5.0  # users started per second
duration = "30s"  # 30s, 2m, 1h30m
shape = "constant"  # constant, step, spike or schedule (loadtests/shapes.py)
toggles = {}  # applied before the run, e.g. {"SENTINEL_CACHE": "on"}
options = {}  # the locustfile's knobs, e.g. {"write-share": 0.2}
stack = ""  # "": LAB_STACK or local

# %%
# %matplotlib inline
import pandas as pd
from IPython.display import HTML, Markdown, display

from analysis import lab, load_plots
from analysis.collect import redis as redis_collect

if toggles:
    print("restarted:", ", ".join(lab.apply(stack=stack or None, **toggles)) or "nothing")
run = lab.load(workload, users=users, duration=duration, shape=shape, spawn_rate=spawn_rate, options=options,
               stack=stack or None)
if run.result.untrusted:
    display(HTML('<div style="background:#d55e00;color:#fff;padding:12px;font-size:1.2em;font-weight:bold">'
                 f"Untrusted run: {run.result.untrusted_reason}</div>"))
run.summary()

# %% [markdown]
# ## Locust and Prometheus side by side
# Throughput, latency percentiles and errors over time. Locust counts what it sent and received;
# Prometheus what the API served (a 10 s rate window, so its curves lag and smooth Locust's).

# %%
prometheus = [lab.query(name, run.start, run.end, stack=stack or None)
              for name in ("request_rate_by_status", "latency_p50_s", "latency_p95_s")]
load_plots.locust_vs_prometheus(run.result.history, pd.concat(prometheus, ignore_index=True), run.start)

# %% [markdown]
# ## The heaviest Postgres statements
# `pg_stat_statements` before and after the run, the application's role only: by total time.

# %%
lab.pg_top(run, 10)[["query", "calls", "total_exec_time_ms", "mean_exec_time_ms", "rows"]]

# %% [markdown]
# ## Redis
# Commands per second during the run (Redis's `INFO commandstats`; the exporter's own `INFO` and
# `SLOWLOG` calls are in it), and the hit ratio of key lookups.

# %%
seconds = (run.end - run.start).total_seconds()
display(load_plots.redis_commands(run.redis, seconds))
Markdown(f"Key lookups hit {redis_collect.hit_ratio(run.redis):.0%} of the time.")

# %% [markdown]
# ## Error lines of the run's window

# %%
errors = lab.logs(start=run.start, end=run.end, level="error", stack=stack or None)
Markdown(f"**{len(errors)} error lines** between {run.start:%H:%M:%S} and {run.end:%H:%M:%S} UTC.")

# %%
errors[["timestamp", "service", "message"]].tail(20)
