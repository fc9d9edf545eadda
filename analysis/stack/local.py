"""The embedded local stack: the real programs of the Sentinel stack as processes on loopback.

Configs from ``stack/config/`` are rendered into the run directory and every
service runs under supervisord. ``up`` starts services in dependency order and
waits for each to be healthy; ``apply`` restarts only what a toggle changes;
``down`` leaves no process and no listening port behind.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from analysis import redis_instances
from analysis.settings import PORT_OFFSETS, REDIS_USERS, REPO, Settings
from analysis.stack import catalogue, health, private, toggles
from analysis.stack.catalogue import Service
from analysis.stack.render import CONFIG_SRC, digest_of, render_configs
from analysis.stack.supervisor import Program, Supervisor



def _pg_bin() -> Path:
    """``LAB_PG_BIN``, else the newest ``/usr/lib/postgresql/<version>/bin`` with initdb."""
    if os.environ.get("LAB_PG_BIN"):
        return Path(os.environ["LAB_PG_BIN"])
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _pg_bin()
#: pgaudit (Debian postgresql-15-pgaudit) is preloaded when installed, idle until PG_AUDIT asks for it
PGAUDIT = (PG_BIN.parent / "lib" / "pgaudit.so").exists()
RELOAD_SETTLE_S = 1.0  # a reloaded Postgres has re-read its config well within this


class StackError(RuntimeError):
    """The stack could not do what was asked; the message says which service and what to do."""


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    state: str  # healthy | unhealthy | stopped
    port: int | None
    url: str | None
    pid: int | None = None
    detail: str = ""


class LocalStack:
    kind = "local"

    def __init__(self, settings: Settings | None = None, only: list[str] | None = None):
        self.settings = settings or Settings.from_env()
        self.run = self.settings.run_dir
        self.supervisor = Supervisor(self.run)
        every = {s.name: s for s in catalogue.local_services(self.settings)}
        if only:
            unknown = set(only) - set(every)
            if unknown:
                raise StackError(f"unknown or non-local services {sorted(unknown)}; local ones: {sorted(every)}")
            wanted = _with_dependencies(set(only), every)
            self.services = [s for s in every.values() if s.name in wanted]
        else:
            self.services = list(every.values())

    # ----------------------------------------------------------------- public
    def up(self, toggles_: dict[str, str] | None = None) -> list[ServiceStatus]:
        """Stand the stack up (idempotent) and wait until every service is healthy."""
        self._prepare(toggles.validate(toggles_ or {}) if toggles_ is not None else self._toggles())
        info = self.supervisor.info()
        self._check_ports(info)
        self.supervisor.start()
        self.supervisor.reload()
        self._start_in_order()
        return self.status()

    def status(self) -> list[ServiceStatus]:
        info = self.supervisor.info()
        return [self._status_of(s, info.get(s.name)) for s in self.services]

    def is_up(self) -> bool:
        return bool(self.services) and all(s.state == "healthy" for s in self.status())

    def apply(self, changes: dict[str, str]) -> list[str]:
        """Set toggles on the running stack; restart only the services they change. Returns those names."""
        before = self._toggles()
        merged = {**before, **toggles.validate(changes)}
        self._prepare(merged)
        if not self.supervisor.running():
            return []
        _, changed, _ = self.supervisor.reload()
        reloaded = [s.name for s in self.services if toggles.reload_only(s.name, before, merged)]
        restarted = [s.name for s in self.services if s.name in changed]
        rpc = self.supervisor.rpc
        for name in reloaded:  # only reloadable settings changed: SIGHUP, the service and its clients stay up
            rpc.signalProcess(name, "HUP")
        if reloaded:
            time.sleep(RELOAD_SETTLE_S)
        for name in restarted:
            rpc.stopProcessGroup(name, True)
            rpc.removeProcessGroup(name)
            rpc.addProcessGroup(name)
        self._start_in_order()
        return restarted

    def restart(self, names: list[str]) -> list[str]:
        """Restart these running services (their in-process state goes) and wait until they are healthy."""
        known = {s.name for s in self.services}
        unknown = set(names) - known
        if unknown:
            raise StackError(f"cannot restart {sorted(unknown)}: not services of this stack ({sorted(known)})")
        rpc = self.supervisor.rpc
        for name in names:
            rpc.stopProcess(name, True)
        self._start_in_order()
        return list(names)

    def down(self) -> None:
        """Stop every service and supervisord; afterwards no process and no port of the lab remain."""
        self.supervisor.shutdown()
        self._stop_stray_postgres()

    def toggles(self) -> dict[str, str]:
        return self._toggles()

    # --------------------------------------------------------------- internals
    def _toggles(self) -> dict[str, str]:
        path = self.run / "toggles.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def _context(self, toggle_values: dict[str, str]) -> dict:
        s = self.settings
        svc = {name: {"host": s.host, "port": s.port(name)} for name in PORT_OFFSETS if name != "truthsync"}
        for i in range(1, s.truthsync_instances + 1):
            svc[f"truthsync-{i}"] = {"host": s.host, "port": s.port(f"truthsync-{i}")}
        running = {x.name for x in self.services}
        jobs = [{"name": x.name, "path": x.metrics_path, "targets": [f"{s.host}:{s.port(x.port)}"]}
                for x in self.services if x.metrics_path and x.port]
        return {
            "stack": "local", "svc": svc, "run": str(self.run), "logs": str(s.log_dir),
            "config": str(self.run / "config"), "scrape_interval": s.scrape_interval_s, "scrape_jobs": jobs,
            "nginx_prefix": str(self.run / "nginx"), "nginx_listen": f"{s.host}:{s.port('nginx')}",
            "nginx_status_listen": f"{s.host}:{s.port('nginx-status')}",
            "truthsync_upstreams": [f"{s.host}:{s.port(n)}" for n in sorted(running) if n.startswith("truthsync-")]
            or [f"{s.host}:{s.port('truthsync-1')}"],
            "toggles": {**toggles.defaults(), **toggle_values},
            "alert_token_file": str(s.secret_file("alert_token")),
            "redis_acl": redis_instances.acl(REDIS_USERS, {u: s.secret(f"redis_{u}") for u in REDIS_USERS}),
            "pgaudit": PGAUDIT, "redis_instances": redis_instances.BY_SERVICE,
        }

    def _prepare(self, toggle_values: dict[str, str]) -> None:
        """Directories, Postgres cluster, rendered configs and supervisord.conf for ``toggle_values``."""
        for sub in ("logs", "config", "nginx", "prometheus", "alertmanager"):
            (self.run / sub).mkdir(parents=True, exist_ok=True)
        (self.run / "toggles.json").write_text(json.dumps(toggle_values, indent=2, sort_keys=True))
        if any(s.name == "postgres" for s in self.services):
            self._init_postgres()
        digests = render_configs(CONFIG_SRC, self.run / "config", self._context(toggle_values))
        private.lock_down(self.run, skip=(self.run / "pgdata", self.run / "pgsocket",
                                          self.settings.log_dir, self.run / "config" / "postgres"))
        for path in (self.run, self.run / "config"):
            private.enterable_by_postgres(path)
        ctx = self._format_context()
        programs = []
        for s in self.services:
            env = {k: v.format(**ctx, name=s.name, port=self.settings.port(s.port) if s.port else "")
                   for k, v in s.environment.items()}
            env.update(toggles.for_service(s.name, toggle_values))
            env["LAB_CONFIG_DIGEST"] = digest_of(digests, s.name, ignore_reloadable=True)[:16]
            command = s.command.format(**ctx, name=s.name, port=self.settings.port(s.port) if s.port else "")
            # a service run as another user (postgres) starts in the run dir, which it may enter; the
            # checkout may sit under a directory only root can (a private temp dir)
            workdir = str(self.run) if s.user else str(REPO)
            programs.append(Program(s.name, command, env, workdir, str(self.settings.log_dir / f"{s.name}.out"),
                                    user=s.user, stop_signal=s.stop_signal))
        self.supervisor.write_config(programs)

    def _format_context(self) -> dict:
        s = self.settings
        ports = {f"port_{k.replace('-', '_')}": s.port(k) for k in PORT_OFFSETS if k != "truthsync"}
        return {"python": sys.executable, "host": s.host, "run": str(self.run), "config": str(self.run / "config"),
                "logs": str(s.log_dir), "database_url": s.database_url, "redis_url": s.redis_url,
                "probe_database_url": s.probe_database_url,
                **{f"redis_url_{user}": s.redis_url_as(user) for user in REDIS_USERS},
                **{f"redis_cache_url_{user}": s.redis_url_as(user, redis_instances.CACHE.service) for user in REDIS_USERS},
                "redis_password_exporter": s.secret("redis_exporter"),
                "pg_bin": str(PG_BIN), "admin_token": s.secret("admin_token"), "jwt_secret": s.secret("jwt_secret"),
                "remediator_token": s.secret("remediator_token"),
                "alert_token_file": str(s.secret_file("alert_token")), "monitor_url": s.monitor_url, **ports}

    def _init_postgres(self) -> None:
        data = self.run / "pgdata"
        sock = self.run / "pgsocket"
        sock.mkdir(exist_ok=True)
        pg = private.postgres_ids()
        as_root = pg is not None
        if as_root:
            blocked = [p for p in self.run.parents if p.exists() and not os.stat(p).st_mode & 0o001]
            if blocked:
                raise StackError(f"the postgres user cannot reach {blocked[-1]} (no execute bit for others); "
                                 "chmod o+x it or set LAB_RUN_DIR to a directory under a traversable path")
            private.enterable_by_postgres(self.run)
            for d in (sock, self.settings.log_dir):
                os.chown(d, *pg)
        os.chmod(sock, 0o700)
        if (data / "PG_VERSION").exists():
            return
        data.mkdir(exist_ok=True)
        if as_root:
            os.chown(data, *pg)
        cmd = [str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-E", "UTF8", "--locale=C",
               "--auth-local=trust", "--auth-host=scram-sha-256"]
        if as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            shutil.rmtree(data, ignore_errors=True)
            raise StackError(f"initdb failed: {result.stderr.strip()[-500:]}\n"
                             "Is the PostgreSQL 15 server installed? Run stack/local/install-deps.sh")

    def _bootstrap_postgres(self) -> None:
        """Role, database and extensions; idempotent, run each time Postgres comes up.

        Passwords are set as SCRAM verifiers computed here, so no SQL text, log line or statistics view ever
        holds one. The application role gets no monitoring role: the exporter and the lab's collectors read
        statistics as ``lab_monitor``, which never counts as the application's statements.
        """
        s = self.settings
        with psycopg.connect(host=str(self.run / "pgsocket"), port=s.port("postgres"), user="postgres",
                             dbname="postgres", autocommit=True) as conn:
            conn.execute("SET pg_stat_statements.track_utility = off")
            # nor in the server log, whatever the P7 audit arm logs (statements, durations, pgaudit)
            for quiet in ("log_statement = 'none'", "log_duration = off", "log_min_duration_statement = -1",
                          "pgaudit.log = 'none'"):
                conn.execute(f"SET {quiet}")
            for role, secret in ((s.db_user, "db_password"), ("lab_monitor", "monitor_password"),
                                 (s.probe_db_user, "probe_db_password")):
                if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                    conn.execute(f'CREATE ROLE "{role}" LOGIN')
                conn.execute(f"ALTER ROLE \"{role}\" PASSWORD '{private.scram_verifier(s.secret(secret))}'")
            conn.execute(f'REVOKE pg_monitor, pg_read_all_stats FROM "{s.db_user}"')
            conn.execute("GRANT pg_monitor TO lab_monitor")
            # the probes' role acts on the application's tables as a member of their owner; its statements are
            # its own in pg_stat_statements (the workload's are the application role's alone)
            conn.execute(f'GRANT "{s.db_user}" TO "{s.probe_db_user}"')
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (s.db_name,)).fetchone():
                conn.execute(f'CREATE DATABASE "{s.db_name}" OWNER "{s.db_user}"')
        with psycopg.connect(host=str(self.run / "pgsocket"), port=s.port("postgres"), user="postgres",
                             dbname=s.db_name, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            conn.execute(f'GRANT EXECUTE ON FUNCTION pg_stat_statements_reset TO "{s.db_user}", lab_monitor')

    def _check_ports(self, info: dict[str, dict]) -> None:
        for s in self.services:
            if not s.port or (info.get(s.name) or {}).get("statename") == "RUNNING":
                continue
            ports = [self.settings.port(s.port)] + ([self.settings.port("nginx-status")] if s.name == "nginx" else [])
            for port in ports:
                if health.port_in_use(self.settings.host, port):
                    raise StackError(f"port {port} needed by {s.name} is already in use by another program; "
                                     f"stop that program or move the lab's ports with LAB_PORT_BASE=<n>")

    def _start_in_order(self) -> None:
        """Start every stopped service once its dependencies are healthy; wait for all to be healthy."""
        rpc = self.supervisor.rpc
        names = {s.name for s in self.services}
        pending = {s.name: s for s in self.services}
        started: set[str] = set()
        healthy: set[str] = set()
        deadline = time.monotonic() + self.settings.health_timeout_s
        while pending:
            info = self.supervisor.info()
            for name, s in list(pending.items()):
                state = (info.get(name) or {}).get("statename")
                if state not in {"RUNNING", "STARTING"}:
                    if name in started:
                        raise self._failure(s, f"its process exited ({state})")
                    if all(d in healthy for d in s.depends_on if d in names):
                        rpc.startProcess(name, False)
                        started.add(name)
                    continue
                if self._status_of(s, info.get(name)).state == "healthy":
                    if name == "postgres":
                        self._bootstrap_postgres()
                    healthy.add(name)
                    del pending[name]
            if pending and time.monotonic() > deadline:
                name = sorted(pending)[0]
                raise self._failure(pending[name], self._status_of(pending[name], info.get(name)).detail)
            time.sleep(0.2)

    def _status_of(self, s: Service, proc: dict | None) -> ServiceStatus:
        port = self.settings.port(s.port) if s.port else None
        url = f"http://{self.settings.host}:{port}" if port and s.health.kind == "http" else None
        if url is None and port:
            url = f"{s.health.kind}://{self.settings.host}:{port}"
        if not proc or proc.get("statename") != "RUNNING":
            return ServiceStatus(s.name, "stopped", port, url, None, (proc or {}).get("statename", "not started"))
        ok, detail = health.check(s, self.settings.host, port, pg_socket_dir=str(self.run / "pgsocket"),
                                  redis_url=(self.settings.redis_url_as("lab", s.name)
                                             if s.name in redis_instances.BY_SERVICE else None))
        return ServiceStatus(s.name, "healthy" if ok else "unhealthy", port, url, proc.get("pid"), detail)

    def _failure(self, s: Service, detail: str) -> StackError:
        tails = []
        for path in (self.settings.log_dir / f"{s.name}.out", self.settings.log_dir / f"{s.name}.log"):
            if path.exists():
                lines = path.read_text(errors="replace").splitlines()[-15:]
                tails.append(f"--- last lines of {path}:\n" + "\n".join(lines))
        cmd = s.command.format(**self._format_context(), name=s.name,
                               port=self.settings.port(s.port) if s.port else "")
        return StackError(f"service {s.name} is not healthy: {detail}\ncommand: {cmd}\n" + "\n".join(tails))

    def _stop_stray_postgres(self) -> None:
        """A Postgres left running by a killed supervisord still holds its data dir: stop it."""
        if (self.run / "pgdata" / "postmaster.pid").exists():
            cmd = [str(PG_BIN / "pg_ctl"), "-D", str(self.run / "pgdata"), "-m", "fast", "-w", "stop"]
            if os.geteuid() == 0:
                cmd = ["runuser", "-u", "postgres", "--", *cmd]
            subprocess.run(cmd, capture_output=True)


def _with_dependencies(names: set[str], every: dict[str, Service]) -> set[str]:
    out, todo = set(), list(names)
    while todo:
        n = todo.pop()
        if n not in out and n in every:
            out.add(n)
            todo.extend(every[n].depends_on)
    return out
