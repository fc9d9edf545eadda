"""The full Sentinel stack under Docker Compose, behind the same interface as ``LocalStack``.

Configs come from the same ``stack/config/`` templates as the local stack, rendered with
compose hostnames and container ports into the run directory, which ``stack/compose.yml``
mounts. Published ports follow ``LAB_PORT_BASE`` like the local stack's, so a study points at
either kind with the same settings. Toggles are environment overrides (``toggles/<service>.env``,
each service's ``env_file``); ``apply`` recreates only the services whose variables or rendered
configs changed.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import time
from pathlib import Path
from typing import Callable

from analysis import redis_instances
from analysis.settings import PORTS, REDIS_USERS, REPO, Settings
from analysis.stack import catalogue, routing, toggles
from analysis.stack.base import ServiceStatus, StackError
from analysis.stack.render import CONFIG_SRC, digest_of, render_configs
from stack.replicas import REPLICATED, group_of, replica_name

COMPOSE_FILE = REPO / "stack" / "compose.yml"
ENV_FILE = REPO / ".env"
ENV_EXAMPLE = REPO / ".env.example"
PROJECT = "sentinel-lab"

#: services published on 127.0.0.1, each as HOST_PORT_<NAME> in compose.yml
PUBLISHED = ("postgres", "redis", "redis-cache", "api", "remediator", "nginx", "prometheus", "alertmanager",
             "grafana", "loki", "frontend", "ollama", "n8n")
#: the role mtail plays locally is Alloy's metrics stage in compose
NOT_IN_COMPOSE = ("mtail",)
#: one-shot jobs: done when they exit 0, not when they are healthy
ONE_SHOT = ("ollama-pull", "n8n-loader")
#: services whose toggles reach them through their rendered config, not their environment
CONFIG_TOGGLED = ("postgres", "nginx")
#: compose-only services that Prometheus scrapes besides the catalogue's
EXTRA_SCRAPES = ("loki", "grafana", "alloy")
#: targets whose series carry their own ``service`` label (Alloy's log counters: one per service's log),
#: scraped with ``honor_labels`` so Prometheus keeps it instead of renaming it ``exported_service``
OWN_SERVICE_LABEL = ("alloy",)

#: what the compose stack cannot do that the local one can, said in every compose study's report
LIMITS: dict[str, str] = {
    "remediation": "restart actions are record-only in compose: the remediator restarts services through "
                   "the local stack's supervisord and has no access to the Docker engine (none is given to it "
                   "on purpose), so it refuses each restart and audits the decision; flush_cache and "
                   "record_only act as they do locally",
}

Runner = Callable[..., subprocess.CompletedProcess]


def compose_services(settings: Settings) -> list[str]:
    """Every compose service, in catalogue order, one-shot jobs included."""
    names: list[str] = []
    for s in catalogue.services(settings):
        name = group_of(s.name)
        if name not in names and name not in NOT_IN_COMPOSE:
            names.append(name)
    return names + [n for n in ONE_SHOT if n not in names]


def redis_passwords(env: dict[str, str]) -> dict[str, str]:
    """Each Redis ACL user's password from the .env values (``REDIS_PASSWORD_<USER>``)."""
    missing = [redis_password_var(u) for u in REDIS_USERS if not env.get(redis_password_var(u))]
    if missing:
        raise StackError(f"set {', '.join(missing)} in .env (URL-safe secrets; or move .env away and "
                         f"`sentinel-lab up --stack compose` writes a new one from .env.example)")
    return {u: env[redis_password_var(u)] for u in REDIS_USERS}


def redis_password_var(user: str) -> str:
    return f"REDIS_PASSWORD_{user.upper()}"


def read_env_file(path: Path) -> dict[str, str]:
    """``NAME=value`` lines of a compose env file (comments and blank lines skipped)."""
    values = {}
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            values[name.strip()] = value.strip()
    return values


def render_context(settings: Settings, toggle_values: dict[str, str], redis_passwords_: dict[str, str]) -> dict:
    """The context the shared templates get in compose: service names as hosts, container ports; the
    Redis ACL users with their passwords' SHA-256 (``redis_passwords``)."""
    svc = {name: {"host": name, "port": port.container} for name, port in PORTS.items()
           if port.container and name not in REPLICATED}  # not the lab's own receiver (local only)
    svc["nginx-status"] = {"host": "nginx", "port": PORTS["nginx-status"].container}
    for i in range(1, settings.truthsync_instances + 1):
        svc[replica_name("truthsync", i)] = {"host": "truthsync", "port": PORTS["truthsync"].container}
    jobs, seen = [], set()
    for s in catalogue.services(settings):
        name = group_of(s.name)
        if s.metrics_path and name not in NOT_IN_COMPOSE and name not in seen:
            seen.add(name)
            job = {"name": name, "path": s.metrics_path, "targets": [f"{name}:{PORTS[name].container}"]}
            if name in REPLICATED:  # scaled replicas: scrape each one, not whichever DNS answers first
                job["dns_port"] = PORTS[name].container
            jobs.append(job)
    jobs += [{"name": n, "path": "/metrics", "targets": [f"{n}:{PORTS[n].container}"]} for n in EXTRA_SCRAPES]
    for job in jobs:
        if job["name"] in OWN_SERVICE_LABEL:
            job["honor_labels"] = True
    return {
        "stack": "compose", "svc": svc, "run": "/run/sentinel", "logs": "/var/log/sentinel",
        "config": "/etc/sentinel", "scrape_interval": settings.scrape_interval_s, "scrape_jobs": jobs,
        "nginx_prefix": "/var/cache/nginx", "nginx_listen": str(PORTS["nginx"].container),
        "nginx_status_listen": str(PORTS["nginx-status"].container),
        "truthsync_upstreams": [f"truthsync:{PORTS['truthsync'].container}"],
        "toggles": {**toggles.defaults(), **toggle_values},
        "alert_token_file": "/run/secrets/alert_token",  # compose's secret of the same name (.env: ALERT_TOKEN)
        "pgaudit": True,  # compose's Postgres image has it (stack/docker/postgres.Dockerfile)
        "redis_instances": redis_instances.BY_SERVICE,
        "redis_acl": redis_instances.acl(REDIS_USERS, redis_passwords_),
    }


def lab_env(settings: Settings, config_dir: Path) -> dict[str, str]:
    """What the lab sets for compose itself: where the rendered configs are, and the published ports."""
    env = {"SENTINEL_CONFIG_DIR": str(config_dir), "LAB_UID": str(os.getuid()), "LAB_GID": str(os.getgid())}
    env.update({f"HOST_PORT_{n.upper().replace('-', '_')}": str(settings.port(n)) for n in PUBLISHED})
    return env


def toggle_env(service: str, toggle_values: dict[str, str]) -> dict[str, str]:
    """The toggle variables of a compose service (a TruthSync replica sees what every instance sees)."""
    return toggles.for_service(replica_name(service, 1) if service in REPLICATED else service, toggle_values)


def env_toggled(services: list[str]) -> list[str]:
    """Services that read toggles from their environment: each gets ``toggles/<name>.env``."""
    return [n for n in services if n not in CONFIG_TOGGLED and toggle_env(n, {})]


def write_env_from_example(example: Path, target: Path) -> list[str]:
    """Create ``target`` from ``example``, generating every empty secret; returns their names."""
    generated, lines = [], []
    for line in example.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#") and not value.strip() \
                and re.search(r"(PASSWORD|TOKEN|KEY)(_[A-Z]+)?$", name.strip()):
            line = f"{name}={secrets.token_urlsafe(24)}"
            generated.append(name.strip())
        lines.append(line)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    return generated


def parse_ps(output: str) -> list[dict]:
    """``docker compose ps --format json``: one object per line (Compose >= 2.21) or one array."""
    output = output.strip()
    if not output:
        return []
    if output.startswith("["):
        return json.loads(output)
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def container_status(c: dict, settings: Settings) -> ServiceStatus:
    """healthy / unhealthy / stopped for one container; a one-shot job that exited 0 counts as healthy."""
    service, state, health = c.get("Service", ""), c.get("State", ""), c.get("Health", "")
    name = service
    if service in REPLICATED:
        name = replica_name(service, int(c.get("Name", "").rsplit("-", 1)[-1]))
    published = [p.get("PublishedPort") for p in c.get("Publishers") or [] if p.get("PublishedPort")]
    port = published[0] if published else None
    url = f"http://{settings.host}:{port}" if port else None
    if service in ONE_SHOT and state == "exited":
        ok = c.get("ExitCode") == 0
        return ServiceStatus(name, "healthy" if ok else "unhealthy", port, url, None, f"exited {c.get('ExitCode')}")
    if state != "running":
        return ServiceStatus(name, "stopped", port, url, None, state or "not created")
    if service in ONE_SHOT:  # a job still at work (a model download) holds nothing back
        return ServiceStatus(name, "healthy", port, url, None, "running (one-shot job)")
    if not health:
        return ServiceStatus(name, "healthy", port, url, None, "running (no healthcheck)")
    return ServiceStatus(name, "healthy" if health == "healthy" else "unhealthy", port, url, None, health)


class ComposeStack:
    kind = "compose"

    def __init__(self, settings: Settings | None = None, runner: Runner = subprocess.run,
                 env_file: Path = ENV_FILE, sleep: Callable[[float], None] = time.sleep):
        self.settings = settings or Settings.from_env()
        self.runner = runner
        self.env_file = env_file
        self.sleep = sleep
        self.dir = self.settings.run_dir / "compose"
        self.config_dir = self.dir / "config"
        self.lab_env_file = self.dir / "lab.env"
        self.services = compose_services(self.settings)
        #: first start builds images and pulls about 5 GB; later starts only wait for healthchecks
        self.wait_timeout_s = max(self.settings.health_timeout_s, 300.0)

    # ----------------------------------------------------------------- public
    def command(self, *args: str) -> list[str]:
        """The ``docker compose`` argv for ``args``, with this lab's project, file and env files."""
        return ["docker", "compose", "--project-name", PROJECT, "--file", str(COMPOSE_FILE),
                "--env-file", str(self.env_file), "--env-file", str(self.lab_env_file), *args]

    def up(self, toggles_: dict[str, str] | None = None) -> list[ServiceStatus]:
        """Build, start and wait until every long-running service is healthy (idempotent)."""
        wanted = toggles.validate(toggles_) if toggles_ is not None else self.toggles()
        routing.refuse_in_compose(wanted)
        self.check_engine()
        self._ensure_env_file()
        self._prepare(wanted)
        self._compose("up", "--detach", "--build", "--remove-orphans", *self._scale())
        self._wait_healthy(self.services)
        return self.status()

    def status(self) -> list[ServiceStatus]:
        if not self.lab_env_file.exists():
            return [ServiceStatus(n, "stopped", None, None, None, "never started") for n in self.services]
        self.check_engine()
        found = [container_status(c, self.settings)
                 for c in parse_ps(self._compose("ps", "--all", "--format", "json").stdout)]
        running = {group_of(s.name) for s in found}
        missing = [ServiceStatus(n, "stopped", None, None, None, "not created") for n in self.services
                   if n not in running]
        order = {n: i for i, n in enumerate(self.services)}
        return sorted(found, key=lambda s: (order.get(group_of(s.name), len(order)), s.name)) + missing

    def is_up(self) -> bool:
        """Every service healthy (a one-shot job that finished counts as healthy)."""
        statuses = self.status()
        return bool(statuses) and all(s.state == "healthy" for s in statuses)

    def restart(self, names: list[str]) -> list[str]:
        """Restart these services (``truthsync-N`` restarts the scaled ``truthsync`` service) and wait."""
        services = sorted({group_of(n) for n in names})
        self._compose("restart", *services)
        self._wait_healthy(services)
        return services

    def apply(self, changes: dict[str, str]) -> list[str]:
        """Set toggles; recreate only the services whose environment or rendered config changed."""
        before_toggles, before_digests = self.toggles(), self._digests()
        after_toggles = {**before_toggles, **toggles.validate(changes)}
        routing.refuse_in_compose(after_toggles)  # before anything is rendered
        after_digests = self._prepare(after_toggles)
        affected = [n for n in self.services if n not in ONE_SHOT and (
            toggle_env(n, before_toggles) != toggle_env(n, after_toggles)
            or digest_of(before_digests, n) != digest_of(after_digests, n))]
        if "truthsync" in affected and "nginx" not in affected:
            affected.append("nginx")  # Nginx resolves the replicas' addresses when it starts
        if not affected or not self._any_running():
            return []
        self.check_engine()
        self._compose("up", "--detach", "--no-deps", "--force-recreate", *self._scale(), *affected)
        self._wait_healthy(affected)
        return affected

    def down(self) -> None:
        """Stop and remove the containers and network; named volumes (data, models) stay."""
        if self.lab_env_file.exists():
            self.check_engine()
            self._compose("down", "--remove-orphans")

    def toggles(self) -> dict[str, str]:
        path = self.dir / "toggles.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def check_engine(self) -> None:
        """Fail with what to do when there is no docker command or no reachable engine."""
        try:
            result = self.runner(["docker", "info", "--format", "{{.ServerVersion}}"],
                                 capture_output=True, text=True)
        except FileNotFoundError:
            raise StackError("the docker command is not installed: install Docker Engine with the Compose "
                             "plugin (https://docs.docker.com/engine/install/), or use the local stack "
                             "(--stack local)") from None
        if result.returncode != 0:
            detail = (result.stderr or result.stdout or "").strip().splitlines()
            raise StackError(f"no Docker engine is reachable ({detail[-1] if detail else 'docker info failed'}): "
                             "start it (e.g. `sudo systemctl start docker`) or check DOCKER_HOST, "
                             "or use the local stack (--stack local)")
        if self.runner(["docker", "compose", "version", "--short"], capture_output=True, text=True).returncode:
            raise StackError("the Docker Compose plugin is missing (`docker compose version` failed): install "
                             "docker-compose-plugin, version 2.24 or later")

    # --------------------------------------------------------------- internals
    def _compose(self, *args: str) -> subprocess.CompletedProcess:
        argv = self.command(*args)
        result = self.runner(argv, capture_output=True, text=True, cwd=str(REPO))
        if result.returncode != 0:
            tail = "\n".join((result.stderr or "").strip().splitlines()[-20:])
            raise StackError(f"`{' '.join(argv[:2] + list(args))}` failed (exit {result.returncode}):\n{tail}")
        return result

    def _scale(self) -> list[str]:
        return ["--scale", f"truthsync={self.settings.truthsync_instances}"]

    def _ensure_env_file(self) -> None:
        if not self.env_file.exists():
            write_env_from_example(ENV_EXAMPLE, self.env_file)

    def _prepare(self, toggle_values: dict[str, str]) -> dict[str, str]:
        """Rendered configs, lab.env and the toggles record for ``toggle_values``; returns config digests."""
        self.dir.mkdir(parents=True, exist_ok=True)
        passwords = redis_passwords(read_env_file(self.env_file))
        digests = render_configs(CONFIG_SRC, self.config_dir, render_context(self.settings, toggle_values, passwords))
        for conf in (self.config_dir / "redis").glob("*.conf"):  # ACL hashes: read by Redis as LAB_UID only
            conf.chmod(0o600)
        self._share_lab_password(passwords["lab"])
        env = lab_env(self.settings, self.config_dir.resolve())
        self.lab_env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        (self.config_dir / "toggles").mkdir(exist_ok=True)
        for name in env_toggled(self.services):
            values = toggle_env(name, toggle_values)
            (self.config_dir / "toggles" / f"{name}.env").write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        (self.dir / "toggles.json").write_text(json.dumps(toggle_values, indent=2, sort_keys=True))
        (self.dir / "digests.json").write_text(json.dumps(digests, indent=2, sort_keys=True))
        return digests

    def _share_lab_password(self, password: str) -> None:
        """The lab's collectors reach compose's Redis as ``lab`` with .env's password (Settings.secret's file)."""
        path = self.settings.run_dir / "secrets" / "redis_lab"
        if path.exists() and path.read_text().strip() == password:
            return
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password)

    def _digests(self) -> dict[str, str]:
        path = self.dir / "digests.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def _any_running(self) -> bool:
        self.check_engine()
        return any(c.get("State") == "running"
                   for c in parse_ps(self._compose("ps", "--format", "json").stdout))

    def _wait_healthy(self, names: list[str]) -> None:
        deadline = time.monotonic() + self.wait_timeout_s
        while True:
            statuses = [s for s in self.status() if group_of(s.name) in names]
            # a one-shot job still at work (a model download) counts as healthy: it holds nothing back
            waiting = [s for s in statuses if s.state != "healthy"]
            failed = [s for s in waiting if group_of(s.name) in ONE_SHOT and s.state == "unhealthy"]
            if failed:
                raise self._failure(failed[0], "the one-shot job failed")
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise self._failure(waiting[0], f"not healthy after {self.wait_timeout_s:.0f} s")
            self.sleep(2.0)

    def _failure(self, s: ServiceStatus, why: str) -> StackError:
        service = group_of(s.name)
        logs = self.runner(self.command("logs", "--no-color", "--tail", "30", service),
                           capture_output=True, text=True, cwd=str(REPO))
        return StackError(f"service {s.name} is {s.state} ({s.detail}): {why}\n"
                          f"see `{' '.join(self.command('logs', service))}`\n"
                          f"--- last lines:\n{(logs.stdout or '').strip()}")
