"""One settings object for the lab: ports, directories, stack kind.

Every port sits in a fixed, non-default range so the lab never touches a
Postgres or Redis the user already runs. Override any field with an
environment variable named ``LAB_<FIELD>`` (e.g. ``LAB_PORT_BASE=30000``).
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, fields, replace
from pathlib import Path

from analysis.redis_instances import CACHE, INSTANCES, MAIN
from stack.replicas import REPLICATED, replica_of

REPO = Path(__file__).resolve().parent.parent

@dataclass(frozen=True)
class Port:
    """Where a service listens: ``offset`` from ``port_base`` on the host (None: not published), the
    port inside its container (compose), and whether the local stack listens on it too."""

    offset: int | None
    container: int
    local: bool = True


#: every port of the stack, one place: host offsets from ``port_base`` and container ports
PORTS: dict[str, Port] = {
    "postgres": Port(432, 5432),
    "redis": Port(379, 6379),
    "redis-cache": Port(380, 6379),  # analysis.redis_instances: the evictable caches
    "prometheus": Port(90, 9090),
    "alertmanager": Port(93, 9093),
    # the lab's own Alertmanager webhook, up while a fault timeline plays (analysis.deliveries); no container
    "lab-receiver": Port(94, 0),
    "node-exporter": Port(100, 9100),
    "postgres-exporter": Port(187, 9187),
    "redis-exporter": Port(121, 9121),
    "redis-cache-exporter": Port(122, 9121),
    "nginx-exporter": Port(113, 9113),
    "mtail": Port(903, 3903),
    "nginx": Port(80, 80),
    "nginx-status": Port(81, 8081),
    "api": Port(800, 8000),
    "worker": Port(810, 8000),
    "remediator": Port(820, 8000),
    "truthsync": Port(850, 8000),  # truthsync-1 is +1, truthsync-2 is +2, ...
    # compose only: published on the host, no local program
    "grafana": Port(300, 3000, local=False),
    "loki": Port(310, 3100, local=False),
    "frontend": Port(330, 3000, local=False),
    # where the local n8n asks a model; no Ollama runs locally (the tests put a double there)
    "ollama": Port(434, 11434, local=False),
    # opt-in locally (LAB_N8N=1: analysis.stack.catalogue.local_n8n); its task broker listens on the next port
    "n8n": Port(678, 5678, local=False),
    "alloy": Port(None, 12345, local=False),
}
#: the single-port services the local stack listens for (instances of a replicated one come by name)
LOCAL_PORTS: tuple[str, ...] = tuple(n for n, p in PORTS.items() if p.local and n not in REPLICATED)


#: Redis ACL users of the local stack → their rules (each gets a generated password; ``default`` is off,
#: so a client without credentials is refused). Services may not reconfigure, flush or shut Redis down;
#: the exporter only reads.
REDIS_USERS: dict[str, str] = {
    "lab": "~* &* +@all",
    "api": "~* &* +@all -@admin -flushall -flushdb -swapdb",
    "worker": "~* &* +@all -@admin -flushall -flushdb -swapdb",
    "truthsync": "~* &* +@all -@admin -flushall -flushdb -swapdb",
    "remediator": "~* &* +@all -@admin -flushall -flushdb -swapdb",
    "exporter": ("~* &* -@all +@read +@connection +info +config|get +slowlog|get +slowlog|len "
                 "+latency|latest +latency|histogram +client|list +client|info +memory|stats +select"),
}


@dataclass(frozen=True)
class Settings:
    """Where the lab keeps things and which ports it uses."""

    stack: str = "local"
    host: str = "127.0.0.1"
    port_base: int = 25000
    run_dir: Path = REPO / ".lab" / "run"
    results_dir: Path = REPO / "results"
    reports_dir: Path = REPO / "reports"
    truthsync_instances: int = 2
    health_timeout_s: float = 60.0
    scrape_interval_s: int = 1
    db_name: str = "sentinel"
    db_user: str = "sentinel"
    probe_db_user: str = "sentinel_probe"  # stack.lab_probe.DB_ROLE: the probes' statements, never the workload's
    n8n: bool = False  # LAB_N8N=1: the local stack also runs n8n (stack/local/install-n8n.sh installs it)

    def port(self, service: str) -> int:
        """The host port of ``service`` (``truthsync-2`` → base + 850 + 2), local or published by compose."""
        replica = replica_of(service)
        name, extra = replica if replica else (service, 0)
        offset = PORTS[name].offset
        if offset is None:
            raise KeyError(f"{service} has no port on the host (only inside its container)")
        return self.port_base + offset + extra

    def url(self, service: str) -> str:
        """Where the host reaches ``service``: the local stack's port, or the one compose publishes."""
        return f"http://{self.host}:{self.port(service)}"

    def secret(self, name: str) -> str:
        """A secret from ``LAB_SECRET_<NAME>``, else generated once and kept (0600) in the run directory."""
        env = os.environ.get(f"LAB_SECRET_{name.upper()}")
        if env:
            return env
        path = self.run_dir / "secrets" / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(24))
        return path.read_text().strip()

    def secret_file(self, name: str) -> Path:
        """The 0600 file holding secret ``name``, for programs that read a secret from a file
        (Alertmanager's ``credentials_file``); written from ``LAB_SECRET_<NAME>`` when that is set."""
        value, path = self.secret(name), self.run_dir / "secrets" / name
        if not path.exists() or path.read_text().strip() != value:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            path.unlink(missing_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(value)
        return path

    @property
    def database_url(self) -> str:
        return (f"postgresql://{self.db_user}:{self.secret('db_password')}@{self.host}:"
                f"{self.port('postgres')}/{self.db_name}")

    @property
    def probe_database_url(self) -> str:
        """Postgres as the probes' role: the API and the worker run the probe tenant's statements as it."""
        return (f"postgresql://{self.probe_db_user}:{self.secret('probe_db_password')}@{self.host}:"
                f"{self.port('postgres')}/{self.db_name}")

    @property
    def monitor_url(self) -> str:
        """Postgres as ``lab_monitor``: the exporter and the lab's collectors read statistics as this role."""
        return (f"postgresql://lab_monitor:{self.secret('monitor_password')}@{self.host}:"
                f"{self.port('postgres')}/{self.db_name}")

    @property
    def redis_url(self) -> str:
        """Redis as the lab itself (collectors, resets, probes): user ``lab``."""
        return self.redis_url_as("lab")

    @property
    def redis_cache_url(self) -> str:
        """The cache instance (analysis.redis_instances.CACHE) as the lab itself."""
        return self.redis_url_as("lab", CACHE.service)

    def redis_url_as(self, user: str, instance: str = MAIN.service) -> str:
        """Redis ``instance`` as one of the ACL users of ``REDIS_USERS`` (the same users and passwords on
        every instance), with its generated password."""
        if user not in REDIS_USERS:
            raise ValueError(f"no Redis user {user!r}; the lab's are {sorted(REDIS_USERS)}")
        return f"redis://{user}:{self.secret(f'redis_{user}')}@{self.host}:{self.port(instance)}/0"

    def redis_urls(self) -> dict[str, str]:
        """Every Redis instance as the lab: {instance: url} (resets and collectors read them all)."""
        return {i.service: self.redis_url_as("lab", i.service) for i in INSTANCES}

    @property
    def log_dir(self) -> Path:
        return self.run_dir / "logs"

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        """Defaults, then ``LAB_*`` environment variables, then explicit overrides."""
        values = {}
        for f in fields(cls):
            raw = os.environ.get(f"LAB_{f.name.upper()}")
            if raw is None:
                continue
            default = getattr(cls, f.name, None)
            if isinstance(default, bool):
                values[f.name] = raw.lower() in {"1", "true", "yes", "on"}
            elif isinstance(default, int):
                values[f.name] = int(raw)
            elif isinstance(default, float):
                values[f.name] = float(raw)
            elif isinstance(default, Path):
                values[f.name] = Path(raw).resolve()
            else:
                values[f.name] = raw
        for name, value in overrides.items():
            if value is not None:
                values[name] = Path(value).resolve() if isinstance(getattr(cls, name, None), Path) else value
        return replace(cls(), **values)
