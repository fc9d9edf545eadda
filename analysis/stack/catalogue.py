"""Every service of the Sentinel stack, as data.

One list serves both stack kinds: the local stack runs the entries with a
``command``; the compose stack runs them all. Commands and environment values
are ``str.format`` templates filled by the stack controller with ``python``,
``host``, ``port``, ``run`` (run directory), ``config`` (rendered configs),
``logs`` and the ports of other services (``port_redis``, …).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from analysis.redis_instances import INSTANCES, MAIN
from analysis.settings import Settings
from analysis.stack import n8n
from stack.api.passwords import SEED_ITERATIONS
from stack.envconfig import CACHE_URL_ENV
from stack.replicas import replica_name


@dataclass(frozen=True)
class Health:
    """How to tell a service is ready: ``http`` (GET path → 200), ``tcp``, ``postgres``,
    ``redis`` or ``process`` (supervisord reports it running)."""

    kind: str
    path: str = "/health"


@dataclass(frozen=True)
class Service:
    name: str
    group: str
    health: Health
    command: str = ""  # local command template; empty: cannot run locally
    port: str | None = None  # its name in analysis.settings.PORTS, or an instance's (None: no port)
    depends_on: tuple[str, ...] = ()
    environment: dict[str, str] = field(default_factory=dict)
    metrics_path: str | None = None  # scraped by Prometheus when set
    image: str = ""  # compose image (pinned); empty: built from this repo
    user: str | None = None  # local: run as this user when the lab runs as root
    why_not_local: str = ""
    enabled: bool = True  # False until the service's implementation has landed
    stop_signal: str = "TERM"

    @property
    def runs_locally(self) -> bool:
        return bool(self.command) and self.enabled


_PY_ENV = {
    "HOST": "{host}",
    "PORT": "{port}",
    "DATABASE_URL": "{database_url}",
    "REDIS_URL": "{redis_url}",
    "LOG_FILE": "{logs}/{name}.log",
    "SERVICE_NAME": "{name}",
    "PYTHONUNBUFFERED": "1",
}
#: the API and the worker run the probe tenant's statements as the probes' role (stack.lab_probe)
_PROBE_DB = {"PROBE_DATABASE_URL": "{probe_database_url}"}
_NOT_LOCAL = "exists only as a Docker image; the local stack runs without it"


def _static_services() -> list[Service]:
    return [
        # core
        Service("postgres", "core", Health("postgres"), port="postgres", user="postgres",
                command="{pg_bin}/postgres -D {run}/pgdata -c config_file={config}/postgres/postgresql.conf",
                image="postgres:16.6-bookworm", stop_signal="INT"),
        Service("redis", "core", Health("redis"), port="redis",
                command="redis-server {config}/redis/redis.conf", image="redis:7.4.2-bookworm"),
        Service("redis-cache", "core", Health("redis"), port="redis-cache",
                command="redis-server {config}/redis/redis-cache.conf", image="redis:7.4.2-bookworm"),
        Service("api", "core", Health("http", "/health"), port="api", metrics_path="/metrics",
                depends_on=("postgres", "redis", "redis-cache"), command="{python} -m stack.api",
                # the seeded users' passwords are public (load tests derive them) and each Locust user logs in:
                # at the API's default 600,000 iterations a login costs CPU-seconds, so the lab keeps their count
                environment={**_PY_ENV, **_PROBE_DB, "REDIS_URL": "{redis_url_api}",
                             CACHE_URL_ENV: "{redis_cache_url_api}", "SENTINEL_ADMIN_TOKEN": "{admin_token}",
                             "SENTINEL_PASSWORD_ITERATIONS": str(SEED_ITERATIONS),
                             "SENTINEL_JWT_SECRET": "{jwt_secret}"}),
        Service("worker", "core", Health("http", "/health"), port="worker", metrics_path="/metrics",
                depends_on=("postgres", "redis"), command="{python} -m stack.worker",
                environment={**_PY_ENV, **_PROBE_DB, "REDIS_URL": "{redis_url_worker}"}),
        Service("beat", "core", Health("process"), depends_on=("redis",),
                command="{python} -m stack.worker.beat",
                environment={**_PY_ENV, "REDIS_URL": "{redis_url_worker}", "SENTINEL_BEAT_DIR": "{run}/beat"}),
        # front
        Service("frontend", "front", Health("http", "/"), depends_on=("api", "grafana"),
                why_not_local="Next.js app built into a Docker image; the local stack serves the API only"),
        Service("nginx", "front", Health("http", "/nginx-health"), port="nginx",
                command="nginx -c {config}/nginx/nginx.conf -p {run}/nginx -g 'daemon off;'",
                image="nginx:1.27.3-alpine"),
        # observability
        Service("prometheus", "observability", Health("http", "/-/ready"), port="prometheus",
                metrics_path="/metrics", image="prom/prometheus:v2.55.1",
                command=("prometheus --config.file={config}/prometheus/prometheus.yml "
                         "--storage.tsdb.path={run}/prometheus --web.listen-address={host}:{port} "
                         "--storage.tsdb.retention.time=7d")),
        Service("alertmanager", "observability", Health("http", "/-/ready"), port="alertmanager",
                metrics_path="/metrics", image="prom/alertmanager:v0.27.0",
                command=("prometheus-alertmanager --config.file={config}/alertmanager/alertmanager.yml "
                         "--storage.path={run}/alertmanager --web.listen-address={host}:{port} "
                         "--cluster.listen-address=")),
        Service("loki", "observability", Health("http", "/ready"), image="grafana/loki:3.3.2",
                why_not_local=_NOT_LOCAL + "; logs are read from the services' JSON-lines files"),
        Service("grafana", "observability", Health("http", "/api/health"), depends_on=("prometheus", "loki"),
                image="grafana/grafana:11.4.0", why_not_local=_NOT_LOCAL),
        Service("alloy", "observability", Health("http", "/-/ready"), depends_on=("loki",),
                image="grafana/alloy:v1.5.1",
                why_not_local=(_NOT_LOCAL + "; Grafana Alloy replaces Promtail (end of life March 2026); "
                               "mtail plays its log-to-metrics role locally")),
        Service("node-exporter", "observability", Health("http", "/metrics"), port="node-exporter",
                metrics_path="/metrics", image="prom/node-exporter:v1.8.2",
                command="prometheus-node-exporter --web.listen-address={host}:{port}"),
        Service("postgres-exporter", "observability", Health("http", "/metrics"), port="postgres-exporter",
                metrics_path="/metrics", depends_on=("postgres",),
                image="quay.io/prometheuscommunity/postgres-exporter:v0.16.0",
                command="prometheus-postgres-exporter --web.listen-address={host}:{port}",
                environment={"DATA_SOURCE_NAME": "{monitor_url}?sslmode=disable"}),
        *(_redis_exporter(i.service) for i in INSTANCES),
        Service("nginx-exporter", "observability", Health("http", "/metrics"), port="nginx-exporter",
                metrics_path="/metrics", depends_on=("nginx",), image="nginx/nginx-prometheus-exporter:1.4.0",
                command=("prometheus-nginx-exporter -nginx.scrape-uri http://{host}:{port_nginx_status}/stub_status "
                         "-web.listen-address {host}:{port}")),
        Service("mtail", "observability", Health("http", "/metrics"), port="mtail", metrics_path="/metrics",
                command=("mtail --progs {config}/mtail --logs '{logs}/*.log' --address {host} --port {port} "
                         "--logtostderr --poll_interval 1s")),
        # AI / automation
        Service("ollama", "ai", Health("http", "/api/version"), image="ollama/ollama:0.5.4",
                why_not_local=_NOT_LOCAL + " (and its models need a download)"),
        Service("n8n", "ai", Health("http", "/healthz"), depends_on=("postgres", "n8n-loader"),
                image="n8nio/n8n:1.73.1", why_not_local=_NOT_LOCAL),
        Service("n8n-loader", "ai", Health("process"), depends_on=("postgres",), image="n8nio/n8n:1.73.1",
                why_not_local="one-shot job importing n8n's workflows before n8n starts; needs n8n's image"),
        # remediation (pattern P3)
        Service("remediator", "ai", Health("http", "/health"), port="remediator", metrics_path="/metrics",
                depends_on=("redis", "redis-cache"), command="{python} -m stack.remediator",
                environment={**_PY_ENV, "REDIS_URL": "{redis_url_remediator}",
                             CACHE_URL_ENV: "{redis_cache_url_remediator}", "SUPERVISOR_SOCK": "{run}/supervisor.sock",
                             "REMEDIATOR_TOKEN": "{remediator_token}",
                             "REMEDIATOR_ALERT_TOKEN_FILE": "{alert_token_file}"}),
    ]


def _redis_exporter(instance: str) -> Service:
    """One exporter per Redis instance (``redis-exporter``, ``redis-cache-exporter``), as the read-only user."""
    name = "redis-exporter" if instance == MAIN.service else f"{instance}-exporter"
    return Service(name, "observability", Health("http", "/metrics"), port=name,
                   metrics_path="/metrics", depends_on=(instance,), image="oliver006/redis_exporter:v1.67.0",
                   command="prometheus-redis-exporter -web.listen-address {host}:{port}",
                   environment={"REDIS_ADDR": f"redis://{{host}}:{{port_{instance.replace('-', '_')}}}",
                                "REDIS_USER": "exporter", "REDIS_PASSWORD": "{redis_password_exporter}"})


def truthsync_instances(n: int) -> list[Service]:
    """``truthsync-1`` … ``truthsync-n``, each its own process and port, all behind Nginx."""
    return [Service(replica_name("truthsync", i), "verification", Health("http", "/health"),
                    port=replica_name("truthsync", i),
                    metrics_path="/metrics", depends_on=("postgres", "redis", "redis-cache"),
                    command="{python} -m truthsync",
                    environment={**_PY_ENV, "REDIS_URL": "{redis_url_truthsync}",
                                 CACHE_URL_ENV: "{redis_cache_url_truthsync}"})
            for i in range(1, n + 1)]


def local_n8n(settings: Settings) -> Service:
    """n8n as a local service (LAB_N8N=1; installed by stack/local/install-n8n.sh, see analysis.stack.n8n)."""
    return Service("n8n", "ai", Health("http", "/healthz/readiness"), port="n8n", depends_on=("remediator",),
                   command="{python} -m stack.n8n", environment=n8n.environment(settings), image="n8nio/n8n:1.73.1")


def services(settings: Settings | None = None) -> list[Service]:
    """The whole catalogue, TruthSync instances included, in dependency order."""
    settings = settings or Settings()
    every = _static_services() + truthsync_instances(settings.truthsync_instances)
    local = settings.n8n and settings.stack == "local"
    return [local_n8n(settings) if s.name == "n8n" and local else s for s in every]


def by_name(settings: Settings | None = None) -> dict[str, Service]:
    return {s.name: s for s in services(settings)}


def local_services(settings: Settings | None = None) -> list[Service]:
    return [s for s in services(settings) if s.runs_locally]


def absent_locally(settings: Settings | None = None) -> dict[str, str]:
    """Services the local stack does not run, with the reason, for reports."""
    return {s.name: s.why_not_local or "not implemented yet" for s in services(settings) if not s.runs_locally}
