"""The optimisation patterns of DESIGN.md, as data.

Each pattern says, before anything runs, what it expects: the claim in words,
a numeric expectation (metric, kind, range of the relative change), the
toggles of its two arms, the workload, the metrics, and the services it needs.
Where the design document gives only words, the number is the lab's reading
of them and the claim text says so.
"""
from __future__ import annotations

from dataclasses import dataclass

from analysis.stack.toggles import TOGGLES

from analysis.alerts import Backtest
from analysis.collect.base import Collector
from analysis.deliveries import CHECKS as DELIVERY_CHECKS
from analysis.deliveries import PROBE as DELIVERY_PROBE
from analysis.incidents import STAGES, IncidentPlan
from analysis.repeats import MIN_RUNS

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
    ``source="samples"``: a probe's per-event observations (``samples.parquet``), reduced the same
    way; ``endpoint`` is the sample name. Every metric is one value per run before arms are compared.
    ``scale="relative"``: compared as a ratio of the arms' geometric means (``noise`` a fraction);
    ``"absolute"``: as a difference of means in the metric's unit (``noise`` in that unit), for
    zero-heavy counts and for ratios judged in percentage points.
    ``probe``: the key in ``analysis.probes.PROBES`` that produces the metric; ``checks``: the derived
    metric holding that probe's number of checks in a run. Such a metric is judged only when every
    measured run of both arms has its value and a non-zero check count; otherwise it is not measured.
    """

    name: str
    unit: str
    better: str  # "lower" | "higher" | "none"
    source: str = "derived"
    count: str | None = None
    quantile: float | None = None
    endpoint: str | None = None
    noise: float = DEFAULT_NOISE
    scale: str = "relative"  # "relative" | "absolute"
    probe: str | None = None
    checks: str | None = None


@dataclass(frozen=True)
class Expectation:
    """The claim as a number: the relative change (treatment vs baseline) the design promises.

    kinds: ``decrease`` / ``increase`` (claimed range ``low``…``high``, e.g. −0.60…−0.40),
    ``at_most`` (change ≤ ``high``, e.g. an overhead bound), ``none`` (no change: A/A),
    ``zero`` (the treatment's value must be exactly 0 in every run), ``no_regression``
    (a cost the pattern must not raise beyond noise). On a metric of absolute scale, ``low`` and
    ``high`` are differences in its unit (a ratio's: percentage points).
    ``primary``: the pattern's one headline claim, tested at the nominal level; every other claim
    of the pattern is a secondary check, corrected together with the others (see analysis.stats).
    """

    metric: str
    kind: str
    low: float | None = None
    high: float | None = None
    primary: bool = False

    def describe(self, unit: str = "%") -> str:
        pct = lambda x: f"{x * 100:+.0f} {unit}"  # noqa: E731
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
    #: capacity runs: a staircase of load levels, each held ``level_s`` — users without think time
    #: (closed loop) or, with ``open_loop``, arrivals per second; empty for an ordinary constant load
    levels: tuple[float, ...] = ()
    level_s: float = 0.0
    open_loop: bool = False


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
    #: the run's data sources: names in ``analysis.devices.default_registry()`` or ``Collector`` classes
    collect: tuple[str | type[Collector], ...] = ("prometheus", "postgres", "redis", "logs")
    probes: tuple[str, ...] = ()  # names in analysis.probes.PROBES: measurements beside the load
    reset: tuple[str, ...] = ()  # before every run: "redis:<key prefix>" deleted, "restart:<service glob>"
    default: bool = True  # runs in a plain `sentinel-lab study` that names no pattern
    quick: bool = True  # in the default set of ``study --quick`` (False: only in full studies)
    quick_repeats: int | None = None  # a quick study runs at most this many repeats of it (a long run's budget)
    backtest: Backtest | None = None  # alert patterns: a fault timeline per repeat, rule sets scored against it
    incidents: IncidentPlan | None = None  # remediation patterns: curable faults per run, time to recover measured

    def metric(self, name: str) -> Metric:
        return next(m for m in self.metrics if m.name == name)

    def runs_per_arm(self, repeats: int, quick: bool) -> int:
        """How many runs of each arm a study asking for ``repeats`` makes (a quick one at most ``quick_repeats``)."""
        cap = self.quick_repeats if quick else None
        return min(repeats, cap or repeats)

    def expectation(self, metric: str) -> Expectation | None:
        return next((e for e in self.expectations if e.metric == metric), None)

    def describe(self, metric: str) -> str:
        """The claim on ``metric`` in words ('' when there is none); absolute ratios in pp."""
        e = self.expectation(metric)
        return e.describe("pp" if self.metric(metric).scale == "absolute" else "%") if e else ""

    def role(self, metric: str) -> str:
        """``primary`` (the headline claim), ``secondary`` (a check corrected with the others) or ``context``."""
        e = self.expectation(metric)
        return "context" if e is None else "primary" if e.primary else "secondary"

    def secondary_tested(self) -> tuple[Expectation, ...]:
        """The secondary claims judged on an interval: the family the correction spans."""
        return tuple(e for e in self.expectations if not e.primary and e.kind != "zero")


def _latency(prefix: str = "", endpoint: str | None = None, noise: float = 0.05) -> tuple[Metric, ...]:
    """p50/p95/p99 of successful requests; latency on a shared machine is noisier than counts."""
    return tuple(Metric(f"{prefix}p{int(q * 100)}_ms", "ms", "lower", source="latency", quantile=q,
                        endpoint=endpoint, noise=noise) for q in (0.5, 0.95, 0.99))


_THROUGHPUT = Metric("throughput_rps", "req/s", "higher", noise=0.05)
_ERRORS = Metric("error_rate", "errors/request", "lower", count="errors", noise=0.005, scale="absolute")
_PG = Metric("pg_statements_per_request", "statements/request", "lower", count="pg_statements")
_PG_EXEC = Metric("pg_exec_ms_per_request", "ms/request", "lower", count="pg_exec_ms", noise=0.05)
_PG_BLOCKS = Metric("pg_blocks_per_request", "blocks/request", "lower", count="pg_blocks")
#: the baseline's polling interval, as the toggles declare it (the claim and the report state it)
_NOTIFY_POLL_S = TOGGLES["SENTINEL_NOTIFY_POLL_S"].default
_REDIS_OPS = Metric("redis_commands_per_request", "commands/request", "none", count="redis_commands")
#: both rate-limit arms: a short window, so a burst straddles its boundary within a quick run
_RATELIMIT = {"SENTINEL_RATELIMIT_PER_MIN": "50", "SENTINEL_RATELIMIT_WINDOW_S": "8"}


#: what a capacity run yields, one value per run (analysis.capacity.run_scalars)
CAPACITY_METRICS = (Metric("max_sustainable_rps", "req/s", "higher", noise=0.05),
                    Metric("usl_peak_rps", "req/s", "higher", noise=0.05),
                    Metric("usl_alpha", "ratio", "none"), Metric("usl_beta", "ratio", "none"),
                    Metric("generator_saturated_levels", "levels", "lower"))


#: what a capacity run adds to its sources: the services' CPU and memory, and the load's levels
_CAPACITY_COLLECT = ("resources", "levels")


_CELERY_PROBE = {"probe": "celery-tasks", "checks": "tasks_compared"}


def _regressions(*metrics: Metric) -> tuple[Expectation, ...]:
    return tuple(Expectation(m.name, "no_regression") for m in metrics)


def _alert_metrics(prefix: str = "", better: str | None = None) -> tuple[Metric, ...]:
    """A rule set's backtest scores (analysis.alerts.values); ``better="none"`` for context sets."""
    spec = (("recall", "ratio", "higher"), ("precision", "ratio", "higher"), ("false_alerts", "alerts", "lower"),
            ("false_alerts_per_h", "alerts/h", "lower"), ("ttd_p50_s", "s", "lower"), ("ttd_p90_s", "s", "lower"),
            ("reset_p50_s", "s", "lower"))
    return tuple(Metric(f"{prefix}{name}", unit, better or way) for name, unit, way in spec)


def _delivery_metrics() -> tuple[Metric, ...]:
    """The treatment set scored on what Alertmanager delivered to the lab's receiver (analysis.deliveries):
    measured only in runs whose receiver got at least one notification."""
    spec = (("delivered_recall", "ratio", "higher"), ("delivered_precision", "ratio", "higher"),
            ("delivered_false_alerts", "alerts", "lower"), ("ttn_p50_s", "s", "lower"), ("ttn_p90_s", "s", "lower"),
            ("undelivered_alerts", "alerts", "lower"), (DELIVERY_CHECKS, "alerts", "none"))
    return tuple(Metric(name, unit, way, probe=DELIVERY_PROBE, checks=DELIVERY_CHECKS) for name, unit, way in spec)


# alert patterns score rule sets, all loaded at once: both arms run the same stack (the cache on,
# so the timeline's cache flush is a real event)
_ALERT_ARMS = {"SENTINEL_CACHE": "on"}
_ALERT_NEEDS = ("postgres", "redis", "api", "nginx", "worker", "prometheus", "mtail", "redis-exporter",
                "nginx-exporter")

# P3: both arms keep the cache on (its poisoning is a real fault) and a cooldown shorter than the
# gap between two incidents of one class; only who answers the alert differs
_INCIDENTS = IncidentPlan()
_REMEDIATION = {"SENTINEL_CACHE": "on", "REMEDIATOR_COOLDOWN_S": f"{_INCIDENTS.cooldown_s:g}",
                "REMEDIATOR_BUDGET_PER_H": str(_INCIDENTS.budget_per_h)}

PATTERNS: tuple[Pattern, ...] = (
    Pattern(
        "redis-cache", "P1 Redis as hub: query cache",
        "A Redis cache in front of the dashboard query cuts Postgres queries by 40–60 %, "
        "and never serves a stale dashboard. Database load is judged twice, each against −40…−60 %: "
        "statements per request and Postgres execution time per request (pg_stat_statements, "
        "the application role only); shared blocks touched per request are shown beside them.",
        (Expectation("pg_statements_per_request", "decrease", -0.60, -0.40, primary=True),
         Expectation("pg_exec_ms_per_request", "decrease", -0.60, -0.40),
         Expectation("stale_reads", "zero"),
         *_regressions(*_latency("dashboard_", "dashboard"), _THROUGHPUT, _ERRORS)),
        {"SENTINEL_CACHE": "off"}, {"SENTINEL_CACHE": "on"},
        WorkloadSpec("api"),
        (_PG, _PG_EXEC, _PG_BLOCKS,
         *_latency("dashboard_", "dashboard"), _THROUGHPUT, _ERRORS,
         Metric("api_cache_hit_ratio", "ratio", "none", scale="absolute", probe="api-cache-hit-ratio",
                checks="api_cache_lookups"),
         Metric("stale_reads", "reads", "lower", scale="absolute", probe="stale-reads", checks="stale_checks"),
         _REDIS_OPS),
        probes=("stale-reads", "api-cache-hit-ratio"), reset=("redis:sentinel:cache:",),
    ),
    Pattern(
        "redis-ratelimit", "P1 rate limiting",
        "A Redis rate limit stops abuse with no extra code: no request over the limit is admitted "
        "within any window's length (a sliding window), even under concurrency and across a window "
        "boundary; normal users pay at most +10 % latency (the lab's reading). Baseline: the design "
        "document's limiter as published (INCR, then EXPIRE at 1: a fixed window); treatment: the lab's "
        f"sliding window; {_RATELIMIT['SENTINEL_RATELIMIT_PER_MIN']} requests per "
        f"{_RATELIMIT['SENTINEL_RATELIMIT_WINDOW_S']} s window in both arms, so a quick run straddles a boundary.",
        (Expectation("admitted_over_limit", "zero", primary=True),
         Expectation("normal_p95_ms", "at_most", high=0.10),
         *_regressions(_ERRORS)),
        {**_RATELIMIT, "SENTINEL_RATELIMIT": "naive"}, {**_RATELIMIT, "SENTINEL_RATELIMIT": "on"},
        WorkloadSpec("api", users=40),
        (Metric("admitted_over_limit", "requests", "lower", scale="absolute", probe="ratelimit-burst",
                checks="burst_sent"),
         Metric("burst_rejected", "requests", "none", scale="absolute", probe="ratelimit-burst", checks="burst_sent"),
         *_latency("normal_", "dashboard"), _THROUGHPUT, _ERRORS),
        probes=("ratelimit-burst",),
        # the primary claim is a must-be-0 count judged run by run: a quick study's MIN_RUNS runs per arm
        # judge it as well as more would (the latency check stays as inconclusive in 8 s runs as at four)
        quick_repeats=MIN_RUNS,
    ),
    Pattern(
        "redis-sessions", "P1 session storage",
        "Sessions in Redis are faster than JWT: per-request auth cost goes down (the lab's reading: "
        "the p50 of the cheapest authenticated request falls beyond noise).",
        (Expectation("read_p50_ms", "decrease", -1.0, 0.0, primary=True),
         *_regressions(_THROUGHPUT, _ERRORS)),
        {"SENTINEL_SESSIONS": "jwt"}, {"SENTINEL_SESSIONS": "redis"},
        WorkloadSpec("api"),
        # the cheapest authenticated request (one incident by id): auth is most of what it costs
        (*_latency("read_", "/api/v1/incidents/{incident_id}"), _THROUGHPUT, _ERRORS, _REDIS_OPS),
    ),
    Pattern(
        "redis-pubsub", "P1 real-time notifications",
        "Redis pub/sub gives real-time notifications without WebSockets: publish→deliver latency "
        f"falls by at least 80 % against polling every {_NOTIFY_POLL_S} s (SENTINEL_NOTIFY_POLL_S), "
        "and no notification is missed: a missed one is a failure of real time (the lab's reading).",
        (Expectation("notify_p95_ms", "decrease", -1.0, -0.80, primary=True),
         Expectation("notifications_missed", "zero"),
         *_regressions(_ERRORS)),
        {"SENTINEL_NOTIFY": "poll", "SENTINEL_NOTIFY_POLL_S": _NOTIFY_POLL_S}, {"SENTINEL_NOTIFY": "pubsub"},
        WorkloadSpec("api"),
        (Metric("notify_p50_ms", "ms", "lower", source="samples", quantile=0.5, endpoint="notify_ms",
                probe="notify-latency", checks="notifications_sent"),
         Metric("notify_p95_ms", "ms", "lower", source="samples", quantile=0.95, endpoint="notify_ms",
                probe="notify-latency", checks="notifications_sent"),
         Metric("notifications_missed", "notifications", "lower", scale="absolute", probe="notify-latency",
                checks="notifications_sent"), _ERRORS, _REDIS_OPS),
        probes=("notify-latency",),
        # the effect dwarfs the run-to-run noise (four pairs: -98.3 % [-98.7 %, -97.8 %]) and the missed
        # count is judged run by run: MIN_RUNS pairs decide it as four do (README, the budget)
        quick_repeats=MIN_RUNS,
    ),
    Pattern(
        "truthsync-l2", "P5 TruthSync + Redis shared cache",
        "A shared Redis cache behind each TruthSync instance's own cache raises the hit rate "
        "across instances by 20–30 percentage points (the lab's reading of \"20–30 %\").",
        (Expectation("cache_hit_ratio", "increase", 0.20, 0.30, primary=True),
         *_regressions(*_latency("verify_", "verify"), _ERRORS)),
        {"TRUTHSYNC_L2": "off"}, {"TRUTHSYNC_L2": "on"},
        WorkloadSpec("truthsync", path="/truthsync", seed=("truthsync",)),
        (Metric("cache_hit_ratio", "ratio", "higher", scale="absolute", probe="truthsync-hit-ratio",
                checks="cache_lookups"), *_latency("verify_", "verify"), _ERRORS,
         _REDIS_OPS),
        # a hit ratio varies little between runs (four pairs: +6.8 pp [+4.5, +9.2], 11 pp short of the
        # claim): MIN_RUNS pairs in a quick study (README, the budget)
        quick_repeats=MIN_RUNS,
        requires=("postgres", "redis", "nginx", "truthsync-1", "truthsync-2", "prometheus"),
        probes=("truthsync-hit-ratio",),
        reset=("redis:ts:v1:", "restart:truthsync-*"),  # every run starts with cold L1s and an empty L2
    ),
    Pattern(
        "celery-metrics", "P6 Celery → Prometheus",
        "Celery task metrics give full task visibility: every task of every type is counted, none "
        "missed and none counted that never ran (judged on their sum), at an overhead of at most +5 % "
        "on the task's own run time, prerun → postrun, p95 of incident_created (the lab's reading).",
        (Expectation("tasks_unaccounted", "zero", primary=True),
         Expectation("task_run_p95_ms", "at_most", high=0.05)),
        {"SENTINEL_CELERY_METRICS": "off"}, {"SENTINEL_CELERY_METRICS": "on"},
        WorkloadSpec("api", options=(("write-share", "0.3"),)),
        (Metric("tasks_unaccounted", "tasks", "lower", scale="absolute", **_CELERY_PROBE),
         Metric("task_run_p95_ms", "ms", "lower", noise=0.05, **_CELERY_PROBE),
         Metric("task_run_p50_ms", "ms", "lower", noise=0.05, **_CELERY_PROBE),
         Metric("tasks_missed", "tasks", "lower", scale="absolute", **_CELERY_PROBE),
         Metric("tasks_counted_not_run", "tasks", "lower", scale="absolute", **_CELERY_PROBE),
         Metric("tasks_per_s", "tasks/s", "higher", noise=0.05, **_CELERY_PROBE), _ERRORS),
        requires=("postgres", "redis", "api", "nginx", "worker", "prometheus"),
        probes=("celery-tasks",),
        quick_repeats=MIN_RUNS,  # as redis-ratelimit: the primary claim is a must-be-0 count, judged run by run
    ),
    Pattern(
        "all-on", "All patterns on versus all off (capacity)",
        "With every optimisation on, the stack carries 2–3× the load at the same latency SLO (p95 ≤ 250 ms, "
        "errors < 1 %): the maximum sustainable throughput of the API rises by +100…+200 %. 'All on' is "
        "every locally measurable pattern's treatment except the per-user rate limit, which caps each "
        "user rather than the stack; the USL peak throughput is reported beside it.",
        (Expectation("max_sustainable_rps", "increase", 1.0, 2.0, primary=True),),
        {}, {"SENTINEL_CACHE": "on", "SENTINEL_SESSIONS": "redis", "SENTINEL_NOTIFY": "pubsub",
             "SENTINEL_CELERY_METRICS": "on", "TRUTHSYNC_L2": "on"},
        WorkloadSpec("api", users=64, spawn_rate=64, levels=(4, 8, 16, 32, 64), level_s=5.0),
        CAPACITY_METRICS, quick_repeats=3,  # five load levels a run: three pairs in a quick study
        # judged on the levels; the services' log lines (~3 s a run to read) are not
        collect=("prometheus", "postgres", "redis", *_CAPACITY_COLLECT),
    ),
    Pattern(
        "capacity-api", "Capacity of the API",
        "How much the API carries at the latency SLO and where it stops scaling (no claim: the figures "
        "for `sentinel-lab capacity`).",
        (), {}, {},
        WorkloadSpec("api", users=64, spawn_rate=64, levels=(4, 8, 16, 32, 64), level_s=5.0),
        CAPACITY_METRICS, default=False, collect=(*Pattern.collect, *_CAPACITY_COLLECT),
    ),
    Pattern(
        "correlated-alerts", "P2 metrics + logs alerting",
        "Alerting on metrics and logs together cuts false alerts by 80 % at no worse recall "
        "(single-signal rules vs correlated rules, backtested on labelled fault timelines; the SRE "
        "workbook's multi-window burn-rate rules are scored beside them as a third set).",
        (Expectation("false_alerts", "decrease", -1.0, -0.80, primary=True), Expectation("recall", "no_regression")),
        _ALERT_ARMS, _ALERT_ARMS,
        WorkloadSpec("api", users=10),
        (*_alert_metrics(), *_alert_metrics("burnrate_", better="none"), *_delivery_metrics()),
        requires=_ALERT_NEEDS, collect=(),
        backtest=Backtest("single", "correlated", context=("burnrate",)),
        quick_repeats=2,  # a timeline is ~100 s: two per quick study (more with --repeats in a full one)
    ),
    Pattern(
        "nginx-metrics", "P8 Nginx → Prometheus",
        "Nginx metrics in Prometheus detect floods automatically: recall ≥ 0.9 over fast and slow "
        "floods, each detected within one `for:` period plus two scrape intervals, at most one false "
        "alert per fault-free hour (no Nginx rules vs Nginx rules, on labelled fault timelines).",
        (Expectation("recall_shortfall", "zero", primary=True), Expectation("late_detections", "zero"),
         Expectation("false_alerts_over_budget", "zero"), Expectation("delivered_recall_shortfall", "zero")),
        _ALERT_ARMS, _ALERT_ARMS,
        WorkloadSpec("api", users=10),
        (Metric("recall_shortfall", "ratio", "lower"), Metric("late_detections", "windows", "lower"),
         Metric("false_alerts_over_budget", "alerts", "lower"), *_alert_metrics(),
         Metric("delivered_recall_shortfall", "ratio", "lower", probe=DELIVERY_PROBE, checks=DELIVERY_CHECKS),
         *_delivery_metrics()),
        requires=_ALERT_NEEDS, collect=(),
        backtest=Backtest("none", "nginx", min_recall=0.9, max_false_per_h=1.0, detect_within_scrapes=2),
        quick_repeats=2,  # the same two timelines as correlated-alerts
    ),
    Pattern(
        "auto-remediation", "P3 alert → analyse → act",
        "The remediation loop (Prometheus → Alertmanager → the remediator's allow-listed action) cuts manual "
        "work by 60 %: the share of incidents that need a person falls by at least 60 percentage points "
        "(the lab's reading; without the loop every incident needs one), and time to recover falls. Curable "
        "faults (the Celery worker and a TruthSync instance killed, the API stuck in an error mode, a "
        f"poisoned dashboard cache), each left {_INCIDENTS.window_s:g} s before the lab ends it itself "
        "(right-censored there); no action outside the allow-list, no double action, a complete audit trail.",
        (Expectation("manual_share", "decrease", -1.0, -0.60, primary=True),
         Expectation("ttr_p50_s", "decrease", -1.0, 0.0),
         Expectation("unsafe_actions", "zero"), Expectation("double_actions", "zero"),
         Expectation("trail_incomplete", "zero")),
        {**_REMEDIATION, "REMEDIATOR_MODE": "off"}, {**_REMEDIATION, "REMEDIATOR_MODE": "on"},
        WorkloadSpec("api", users=2),
        (Metric("manual_share", "share", "lower", scale="absolute"), Metric("ttr_p50_s", "s", "lower", noise=0.05),
         Metric("ttr_p90_s", "s", "lower", noise=0.05), Metric("unsafe_actions", "actions", "lower"),
         Metric("double_actions", "actions", "lower"), Metric("trail_incomplete", "incidents", "lower"),
         # the stages both arms have (act and recover exist only where the loop acts: `--json` lists them per arm)
         *(Metric(f"{stage}_p50_s", "s", "none") for stage in STAGES[:2]),
         Metric("censored", "incidents", "none"), Metric("incidents", "incidents", "none")),
        requires=("postgres", "redis", "api", "worker", "truthsync-1", "prometheus", "alertmanager", "remediator",
                  "postgres-exporter", "redis-exporter"),
        collect=(), incidents=_INCIDENTS,
        quick_repeats=MIN_RUNS,  # the test's minimum of runs per arm
    ),
    Pattern(
        "aa", "Calibration: the same arm twice",
        "Two identical arms (a no-op toggle that restarts the API between them, as a real pattern "
        "does) show no significant change on any metric; otherwise the lab is measuring its own noise.",
        tuple(Expectation(name, "none", primary=name == "dashboard_p95_ms") for name in
              ("pg_statements_per_request", "dashboard_p50_ms", "dashboard_p95_ms", "dashboard_p99_ms",
               "throughput_rps", "error_rate")),
        {"SENTINEL_AA_ARM": "a"}, {"SENTINEL_AA_ARM": "b"},
        WorkloadSpec("api"),
        (_PG,
         *_latency("dashboard_", "dashboard"), _THROUGHPUT, _ERRORS), default=False,
    ),
)


# P7: each audit arm against no statement logging at all; the design's configuration is the primary study.
PG_AUDIT_ARMS: dict[str, dict[str, str]] = {
    "none": {"PG_AUDIT": "none", "PG_LOG_MIN_DURATION_MS": "-1"},
    "design": {"PG_AUDIT": "statement-all", "PG_LOG_MIN_DURATION_MS": "100"},  # exactly as the design writes it
    "min0": {"PG_AUDIT": "none", "PG_LOG_MIN_DURATION_MS": "0"},
    "min250": {"PG_AUDIT": "none", "PG_LOG_MIN_DURATION_MS": "250"},
    "pgaudit-write": {"PG_AUDIT": "pgaudit-write", "PG_LOG_MIN_DURATION_MS": "-1"},
    "pgaudit-all": {"PG_AUDIT": "pgaudit-all", "PG_LOG_MIN_DURATION_MS": "-1"},
}
_PG_AUDIT_METRICS = (
    _THROUGHPUT, *_latency(), _ERRORS,
    Metric("pg_exec_ms_per_request", "ms/request", "lower", count="pg_exec_ms", noise=0.05),
    Metric("pg_log_bytes_per_request", "bytes/request", "lower", count="pg_log_bytes"),
    Metric("pg_log_lines_per_request", "lines/request", "lower", count="pg_log_lines"),
    *(Metric(name, unit, better, probe="pg-audit-trail", checks="slow_planted") for name, unit, better in (
        ("slow_queries_missed", "statements", "lower"), ("slow_query_recall", "share", "higher"),
        ("slow_query_recall_paired", "share", "higher"), ("slow_log_delay_max_ms", "ms", "lower"),
        ("password_leaks", "passwords", "lower"), ("verifier_leaks", "verifiers", "lower"),
        ("error_path_leaks", "passwords", "lower"), ("leak_detector_misses", "passwords", "lower"),
        ("write_audit_share", "share", "higher"), ("ddl_audit_share", "share", "higher"))),
)


def _pg_audit(arm: str, title: str, quick: bool = False) -> Pattern:
    return Pattern(
        "pg-audit" if arm == "design" else f"pg-audit-{arm}", f"P7 Postgres query audit: {title}",
        "Statement logging gives a complete audit trail and finds slow queries automatically, at an overhead "
        "of at most 5 % throughput and 10 % p95 (the lab's reading), without writing a password to the log.",
        (Expectation("p95_ms", "at_most", high=0.10, primary=True), Expectation("throughput_rps", "no_regression"),
         Expectation("slow_queries_missed", "zero"), Expectation("password_leaks", "zero"),
         Expectation("leak_detector_misses", "zero")),
        PG_AUDIT_ARMS["none"], PG_AUDIT_ARMS[arm],
        WorkloadSpec("api", options=(("write-share", "0.2"),)),
        _PG_AUDIT_METRICS, collect=("postgres", "redis"), probes=("pg-audit-trail",), quick=quick,
        # 8 s runs never decide a +10 % p95 bound (four pairs: intervals of ±50–80 % in every quick study so
        # far); the leak and slow-query claims are counts judged run by run: MIN_RUNS quick pairs (README)
        quick_repeats=MIN_RUNS,
    )


PATTERNS += (
    _pg_audit("design", "the design's log_statement = 'all', log_duration, log_min_duration_statement = 100",
              quick=True),
    _pg_audit("min0", "log_min_duration_statement = 0"),
    _pg_audit("min250", "log_min_duration_statement = 250"),
    _pg_audit("pgaudit-write", "pgaudit.log = 'write, ddl, role'"),
    _pg_audit("pgaudit-all", "pgaudit.log = 'all'"),
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
