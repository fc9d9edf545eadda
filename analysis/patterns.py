"""The optimisation patterns of DESIGN.md, as data.

Each pattern says, before anything runs, what it expects: the claim in words,
a numeric expectation (metric, kind, range of the relative change), the
toggles of its two arms, the workload, the metrics, and the services it needs.
Where the design document gives only words, the number is the lab's reading
of them and the claim text says so.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from analysis.alerts import Backtest

#: a change smaller than this (as a fraction) is noise, whatever the p-value says.
DEFAULT_NOISE = 0.02


@dataclass(frozen=True)
class Metric:
    """A measured quantity and which way is better.

    ``source="derived"``: one value per run from ``derived.parquet`` (compared over repeats);
    with ``count`` set the value is that derived count divided by the run's ``requests``, so
    zero-heavy counts (errors, statements) are compared as rates per request.
    ``source="latency"``: per-request response times pooled per arm from ``requests.parquet``;
    ``quantile`` picks the statistic (None: the mean), ``endpoint`` a request-name prefix.
    ``source="samples"``: a probe's per-event observations (``samples.parquet``), pooled the same
    way; ``endpoint`` is the sample name.
    """

    name: str
    unit: str
    better: str  # "lower" | "higher" | "none"
    source: str = "derived"
    count: str | None = None
    quantile: float | None = None
    endpoint: str | None = None
    noise: float = DEFAULT_NOISE


@dataclass(frozen=True)
class Expectation:
    """The claim as a number: the relative change (treatment vs baseline) the design promises.

    kinds: ``decrease`` / ``increase`` (claimed range ``low``…``high``, e.g. −0.60…−0.40),
    ``at_most`` (change ≤ ``high``, e.g. an overhead bound), ``none`` (no change: A/A),
    ``zero`` (the treatment's value must be exactly 0 in every run), ``no_regression``
    (a cost the pattern must not raise beyond noise).
    """

    metric: str
    kind: str
    low: float | None = None
    high: float | None = None

    def describe(self) -> str:
        pct = lambda x: f"{x * 100:+.0f} %"  # noqa: E731
        return {
            "decrease": lambda: f"{pct(self.low)}…{pct(self.high)}",
            "increase": lambda: f"{pct(self.low)}…{pct(self.high)}",
            "at_most": lambda: f"≤ {pct(self.high)}",
            "none": lambda: "no change",
            "zero": lambda: "must be 0",
            "no_regression": lambda: "no regression",
        }[self.kind]()


@dataclass(frozen=True)
class WorkloadSpec:
    """What load a pattern's runs drive: a locustfile in ``loadtests/`` against a target service."""

    locustfile: str  # "api" | "truthsync"
    path: str = ""  # prefix behind Nginx: "" for the API, "/truthsync" for TruthSync
    users: int = 20
    spawn_rate: float = 20.0
    options: tuple[tuple[str, str], ...] = ()  # the locustfile's knobs, e.g. (("write-share", "0.1"),)
    seed: tuple[str, ...] = ("api",)  # data the workload needs: "api", "truthsync"


@dataclass(frozen=True)
class Pattern:
    id: str
    title: str
    claim: str
    expectations: tuple[Expectation, ...]
    baseline: dict[str, str]
    treatment: dict[str, str]
    workload: WorkloadSpec
    metrics: tuple[Metric, ...]
    requires: tuple[str, ...] = ("postgres", "redis", "api", "nginx")
    collect: tuple[str, ...] = ("prometheus", "postgres", "redis", "logs")
    probes: tuple[str, ...] = ()  # names in analysis.probes.PROBES: measurements beside the load
    reset: tuple[str, ...] = ()  # before every run: "redis:<key prefix>" deleted, "restart:<service glob>"
    backtest: Backtest | None = None  # alert patterns: a fault timeline per repeat, rule sets scored against it

    def metric(self, name: str) -> Metric:
        return next(m for m in self.metrics if m.name == name)

    def expectation(self, metric: str) -> Expectation | None:
        return next((e for e in self.expectations if e.metric == metric), None)


def _latency(prefix: str = "", endpoint: str | None = None, noise: float = 0.05) -> tuple[Metric, ...]:
    """p50/p95/p99 of successful requests; latency on a shared machine is noisier than counts."""
    return tuple(Metric(f"{prefix}p{int(q * 100)}_ms", "ms", "lower", source="latency", quantile=q,
                        endpoint=endpoint, noise=noise) for q in (0.5, 0.95, 0.99))


_THROUGHPUT = Metric("throughput_rps", "req/s", "higher", noise=0.05)
_ERRORS = Metric("error_rate", "errors/request", "lower", count="errors")
_PG = Metric("pg_statements_per_request", "statements/request", "lower", count="pg_statements")
_REDIS_OPS = Metric("redis_commands_per_request", "commands/request", "none", count="redis_commands")


def _regressions(*metrics: Metric) -> tuple[Expectation, ...]:
    return tuple(Expectation(m.name, "no_regression") for m in metrics)


def _alert_metrics(prefix: str = "", better: str | None = None) -> tuple[Metric, ...]:
    """A rule set's backtest scores (analysis.alerts.values); ``better="none"`` for context sets."""
    spec = (("recall", "ratio", "higher"), ("precision", "ratio", "higher"), ("false_alerts", "alerts", "lower"),
            ("false_alerts_per_h", "alerts/h", "lower"), ("ttd_p50_s", "s", "lower"), ("ttd_p90_s", "s", "lower"),
            ("reset_p50_s", "s", "lower"))
    return tuple(Metric(f"{prefix}{name}", unit, better or way) for name, unit, way in spec)


# alert patterns score rule sets, all loaded at once: both arms run the same stack (the cache on,
# so the timeline's cache flush is a real event)
_ALERT_ARMS = {"SENTINEL_CACHE": "on"}
_ALERT_NEEDS = ("postgres", "redis", "api", "nginx", "worker", "prometheus", "mtail", "redis-exporter",
                "nginx-exporter")

PATTERNS: tuple[Pattern, ...] = (
    Pattern(
        "redis-cache", "P1 Redis as hub: query cache",
        "A Redis cache in front of the dashboard query cuts Postgres queries by 40–60 %, "
        "and never serves a stale dashboard.",
        (Expectation("pg_statements_per_request", "decrease", -0.60, -0.40),
         Expectation("stale_reads", "zero"),
         *_regressions(*_latency("dashboard_", "dashboard"), _THROUGHPUT, _ERRORS)),
        {"SENTINEL_CACHE": "off"}, {"SENTINEL_CACHE": "on"},
        WorkloadSpec("api"),
        (_PG,
         *_latency("dashboard_", "dashboard"), _THROUGHPUT, _ERRORS,
         Metric("api_cache_hit_ratio", "ratio", "none"), Metric("stale_reads", "reads", "lower"),
         _REDIS_OPS),
        probes=("stale-reads", "api-cache-hit-ratio"), reset=("redis:sentinel:cache:",),
    ),
    Pattern(
        "redis-ratelimit", "P1 rate limiting",
        "A Redis rate limit stops abuse with no extra code: no request over the limit is admitted, "
        "even under concurrency; normal users pay at most +10 % latency (the lab's reading).",
        (Expectation("admitted_over_limit", "zero"),
         Expectation("normal_p95_ms", "at_most", high=0.10),
         *_regressions(_ERRORS)),
        {"SENTINEL_RATELIMIT": "off"}, {"SENTINEL_RATELIMIT": "on", "SENTINEL_RATELIMIT_PER_MIN": "600"},
        WorkloadSpec("api", users=40),
        (Metric("admitted_over_limit", "requests", "lower"),
         Metric("burst_rejected", "requests", "none"),
         *_latency("normal_", "dashboard"), _THROUGHPUT, _ERRORS),
        probes=("ratelimit-burst",),
    ),
    Pattern(
        "redis-sessions", "P1 session storage",
        "Sessions in Redis are faster than JWT: per-request auth cost goes down (the lab's reading: "
        "the p50 of the cheapest authenticated request falls beyond noise).",
        (Expectation("read_p50_ms", "decrease", -1.0, 0.0),
         *_regressions(_THROUGHPUT, _ERRORS)),
        {"SENTINEL_SESSIONS": "jwt"}, {"SENTINEL_SESSIONS": "redis"},
        WorkloadSpec("api"),
        # the cheapest authenticated request (one incident by id): auth is most of what it costs
        (*_latency("read_", "/api/v1/incidents/{incident_id}"), _THROUGHPUT, _ERRORS, _REDIS_OPS),
    ),
    Pattern(
        "redis-pubsub", "P1 real-time notifications",
        "Redis pub/sub gives real-time notifications without WebSockets: publish→deliver latency "
        "falls by at least 80 % against polling (the lab's reading).",
        (Expectation("notify_p95_ms", "decrease", -1.0, -0.80),
         *_regressions(_ERRORS)),
        {"SENTINEL_NOTIFY": "poll"}, {"SENTINEL_NOTIFY": "pubsub"},
        WorkloadSpec("api"),
        (Metric("notify_p50_ms", "ms", "lower", source="samples", quantile=0.5, endpoint="notify_ms"),
         Metric("notify_p95_ms", "ms", "lower", source="samples", quantile=0.95, endpoint="notify_ms"),
         Metric("notifications_missed", "notifications", "lower"), _ERRORS, _REDIS_OPS),
        probes=("notify-latency",),
    ),
    Pattern(
        "truthsync-l2", "P5 TruthSync + Redis shared cache",
        "A shared Redis cache behind each TruthSync instance's own cache raises the hit rate "
        "across instances by 20–30 %.",
        (Expectation("cache_hit_ratio", "increase", 0.20, 0.30),
         *_regressions(*_latency("verify_", "verify"), _ERRORS)),
        {"TRUTHSYNC_L2": "off"}, {"TRUTHSYNC_L2": "on"},
        WorkloadSpec("truthsync", path="/truthsync", seed=("truthsync",)),
        (Metric("cache_hit_ratio", "ratio", "higher"), *_latency("verify_", "verify"), _ERRORS,
         _REDIS_OPS),
        requires=("postgres", "redis", "nginx", "truthsync-1", "truthsync-2", "prometheus"),
        probes=("truthsync-hit-ratio",),
        reset=("redis:ts:v1:", "restart:truthsync-*"),  # every run starts with cold L1s and an empty L2
    ),
    Pattern(
        "celery-metrics", "P6 Celery → Prometheus",
        "Celery task metrics give full task visibility: every task is counted, "
        "at an overhead of at most +5 % on task duration (the lab's reading).",
        (Expectation("task_duration_p95_ms", "at_most", high=0.05),
         Expectation("tasks_unaccounted", "zero")),
        {"SENTINEL_CELERY_METRICS": "off"}, {"SENTINEL_CELERY_METRICS": "on"},
        WorkloadSpec("api", options=(("write-share", "0.3"),)),
        (Metric("task_duration_p95_ms", "ms", "lower", noise=0.05), Metric("tasks_unaccounted", "tasks", "lower"),
         Metric("tasks_per_s", "tasks/s", "higher", noise=0.05), _ERRORS),
        requires=("postgres", "redis", "api", "nginx", "worker", "prometheus"),
        probes=("celery-tasks",),
    ),
    Pattern(
        "correlated-alerts", "P2 metrics + logs alerting",
        "Alerting on metrics and logs together cuts false alerts by 80 % at no worse recall "
        "(single-signal rules vs correlated rules, backtested on labelled fault timelines; the SRE "
        "workbook's multi-window burn-rate rules are scored beside them as a third set).",
        (Expectation("false_alerts", "decrease", -1.0, -0.80), Expectation("recall", "no_regression")),
        _ALERT_ARMS, _ALERT_ARMS,
        WorkloadSpec("api", users=10),
        (*_alert_metrics(), *_alert_metrics("burnrate_", better="none")),
        requires=_ALERT_NEEDS, collect=(),
        backtest=Backtest("single", "correlated", context=("burnrate",)),
    ),
    Pattern(
        "nginx-metrics", "P8 Nginx → Prometheus",
        "Nginx metrics in Prometheus detect floods automatically: recall ≥ 0.9 over fast and slow "
        "floods, each detected within one `for:` period plus two scrape intervals, at most one false "
        "alert per fault-free hour (no Nginx rules vs Nginx rules, on labelled fault timelines).",
        (Expectation("recall_shortfall", "zero"), Expectation("late_detections", "zero"),
         Expectation("false_alerts_over_budget", "zero")),
        _ALERT_ARMS, _ALERT_ARMS,
        WorkloadSpec("api", users=10),
        (Metric("recall_shortfall", "ratio", "lower"), Metric("late_detections", "windows", "lower"),
         Metric("false_alerts_over_budget", "alerts", "lower"), *_alert_metrics()),
        requires=_ALERT_NEEDS, collect=(),
        backtest=Backtest("none", "nginx", min_recall=0.9, max_false_per_h=1.0, detect_within_scrapes=2),
    ),
    Pattern(
        "aa", "Calibration: the same arm twice",
        "Two identical arms show no significant change on any metric; otherwise the lab "
        "is measuring its own noise.",
        tuple(Expectation(name, "none") for name in
              ("pg_statements_per_request", "dashboard_p50_ms", "dashboard_p95_ms", "dashboard_p99_ms",
               "throughput_rps", "error_rate")),
        {}, {},
        WorkloadSpec("api"),
        (_PG,
         *_latency("dashboard_", "dashboard"), _THROUGHPUT, _ERRORS),
    ),
)


def by_id() -> dict[str, Pattern]:
    return {p.id: p for p in PATTERNS}


def get(pattern_id: str) -> Pattern:
    try:
        return by_id()[pattern_id]
    except KeyError:
        raise KeyError(f"unknown pattern {pattern_id!r}; known: {', '.join(by_id())}") from None


def missing_services(pattern: Pattern, available: set[str]) -> list[str]:
    """Required services that the stack does not run: the pattern is then ``not measured``."""
    return [s for s in pattern.requires if s not in available]
