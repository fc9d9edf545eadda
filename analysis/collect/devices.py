"""The lab's data sources as run devices: what Prometheus, Postgres, Redis and the logs saw over a
run, the services' CPU and memory, and a capacity run's levels. Each is a thin ``Collector`` over
its source module; ``analysis.devices`` registers them under the names ``Pattern.collect`` uses."""
from __future__ import annotations

import sys

import pandas as pd

from analysis import capacity
from analysis.collect import COLUMNS, postgres, redis
from analysis.collect.base import DERIVED, Collector, Frames, RunContext, values_frame
from analysis.collect.log_source import log_source
from analysis.collect.logs import LogQuery, counts
from analysis.collect.prometheus import Prometheus
from analysis.collect.resources import ResourceSampler, service_pids

#: the named queries read over a run, per workload target, then for every target
PROMETHEUS_QUERIES = {"truthsync": ("truthsync_request_rate", "truthsync_hit_ratio", "truthsync_latency_p95_s"),
                      "api": ("request_rate_by_status", "latency_p50_s", "latency_p95_s", "cache_hit_ratio")}
PROMETHEUS_COMMON = ("node_cpu_busy", "redis_commands_rate", "pg_commits_rate")


class PrometheusRun(Collector):
    """What Prometheus saw over the run: request rates, latency quantiles, CPU, for the target service.
    A query that fails is a warning, not a failed run (the judged metrics come from elsewhere)."""

    name, needs = "prometheus", ("prometheus",)

    def finish(self, ctx: RunContext) -> Frames:
        prom = Prometheus(ctx.settings.url("prometheus"))
        names = PROMETHEUS_QUERIES["truthsync" if ctx.target == "truthsync" else "api"]
        frames = []
        for name in (*names, *PROMETHEUS_COMMON):
            try:
                frames.append(prom.named(name, ctx.start, ctx.end, step=f"{ctx.settings.scrape_interval_s}s"))
            except RuntimeError as exc:
                print(f"warning: Prometheus query {name} failed: {exc}", file=sys.stderr)
        frames = [f for f in frames if not f.empty]
        return {self.name: pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)}


class PostgresStatements(Collector):
    """``pg_stat_statements`` before the load and right after it: what each statement did in the run."""

    name, needs = "postgres", ("postgres",)

    def start(self, ctx: RunContext) -> None:
        self.before = postgres.statements(ctx.settings.monitor_url)

    def stop(self, ctx: RunContext) -> None:
        self.after = postgres.statements(ctx.settings.monitor_url)

    def finish(self, ctx: RunContext) -> Frames:
        return {self.name: postgres.statements_delta(self.before, self.after)}


class RedisInfo(Collector):
    """Every Redis instance's INFO before the load and right after it: hits, misses, commands in the run."""

    name, needs = "redis", ("redis",)

    def start(self, ctx: RunContext) -> None:
        self.before = redis.snapshot_all(ctx.settings.redis_urls())

    def stop(self, ctx: RunContext) -> None:
        self.after = redis.snapshot_all(ctx.settings.redis_urls())

    def finish(self, ctx: RunContext) -> Frames:
        return {self.name: redis.changes(self.before, self.after)}


class LogCounts(Collector):
    """Log lines per service and level over the run, in 5 s windows (files locally, Loki in compose)."""

    name = "logs"

    def finish(self, ctx: RunContext) -> Frames:
        lines = log_source(ctx.settings).lines(LogQuery(start=ctx.start, end=ctx.end))
        return {self.name: counts(lines, every="5s")}


class Resources(Collector):
    """CPU and memory of each service's process tree every second while the load runs (capacity runs)."""

    name, warmup = "resources", False

    def start(self, ctx: RunContext) -> None:
        self.sampler = ResourceSampler(service_pids(ctx.stack.status()) if ctx.stack else {}).start()

    def stop(self, ctx: RunContext) -> None:
        self.frame = self.sampler.stop()

    def finish(self, ctx: RunContext) -> Frames:
        return {self.name: self.frame}


class Levels(Collector):
    """A capacity run's load levels (throughput, latency per level) and its scalars (max sustainable rate,
    USL fit), from the load's own request log."""

    name, warmup = "levels", False

    def finish(self, ctx: RunContext) -> Frames:
        if ctx.plan is None or ctx.load is None:
            raise ValueError("the levels collector needs a capacity pattern (a workload with levels)")
        frame = capacity.levels(ctx.load.requests, ctx.load.stages, ctx.plan.settle_s, ctx.load.generator_cpu)
        return {self.name: frame, DERIVED: values_frame(capacity.run_scalars(frame, ctx.plan.slo))}
