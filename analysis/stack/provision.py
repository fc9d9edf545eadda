"""Provisioning the local stack: its run directory, the Postgres cluster (initdb, roles, extensions), the
configs rendered from ``stack/config/`` and each service's supervisord program. Nothing here starts or
stops a service; ``local.py`` does that (process control)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg

from analysis import redis_instances
from analysis.settings import LOCAL_PORTS, REDIS_USERS, REPO, Settings
from analysis.stack import private, routing, toggles
from analysis.stack.base import StackError
from analysis.stack.catalogue import Service
from analysis.stack.render import CONFIG_SRC, digest_of, render_configs
from analysis.stack.supervisor import Program
from stack.replicas import replica_name


def _pg_bin() -> Path:
    """``LAB_PG_BIN``, else the newest ``/usr/lib/postgresql/<version>/bin`` with initdb."""
    if os.environ.get("LAB_PG_BIN"):
        return Path(os.environ["LAB_PG_BIN"])
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _pg_bin()
#: pgaudit (Debian postgresql-15-pgaudit) is preloaded when installed, idle until PG_AUDIT asks for it
PGAUDIT = (PG_BIN.parent / "lib" / "pgaudit.so").exists()


class Provision:
    """What the local stack of ``settings`` running ``services`` needs on disk before supervisord starts them."""

    def __init__(self, settings: Settings, services: list[Service]):
        self.settings, self.services = settings, services
        self.run = settings.run_dir

    def programs(self, toggle_values: dict[str, str]) -> list[Program]:
        """Directories, Postgres cluster and rendered configs for ``toggle_values``; the supervisord programs."""
        # before anything is written: Nginx cannot route to instances this stack does not run
        routing.check(toggle_values, len(routing.instances(x.name for x in self.services)))
        for sub in ("logs", "config", "nginx", "prometheus", "alertmanager"):
            (self.run / sub).mkdir(parents=True, exist_ok=True)
        (self.run / "toggles.json").write_text(json.dumps(toggle_values, indent=2, sort_keys=True))
        if any(s.name == "postgres" for s in self.services):
            self.init_postgres()
        digests = render_configs(CONFIG_SRC, self.run / "config", self.context(toggle_values))
        private.lock_down(self.run, skip=(self.run / "pgdata", self.run / "pgsocket",
                                          self.settings.log_dir, self.run / "config" / "postgres"))
        for path in (self.run, self.run / "config"):
            private.enterable_by_postgres(path)
        ctx = self.format_context()
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
        return programs

    def context(self, toggle_values: dict[str, str]) -> dict:
        s = self.settings
        svc = {name: {"host": s.host, "port": s.port(name)} for name in LOCAL_PORTS}
        if s.n8n:  # opt-in locally (LAB_N8N=1), and the model port its workflow asks
            svc.update({name: {"host": s.host, "port": s.port(name)} for name in ("n8n", "ollama")})
        for i in range(1, s.truthsync_instances + 1):
            svc[replica_name("truthsync", i)] = {"host": s.host, "port": s.port(replica_name("truthsync", i))}
        running = {x.name for x in self.services}
        jobs = [{"name": x.name, "path": x.metrics_path, "targets": [f"{s.host}:{s.port(x.port)}"]}
                for x in self.services if x.metrics_path and x.port]
        return {
            "stack": "local", "svc": svc, "run": str(self.run), "logs": str(s.log_dir),
            "config": str(self.run / "config"), "scrape_interval": s.scrape_interval_s, "scrape_jobs": jobs,
            "nginx_prefix": str(self.run / "nginx"), "nginx_listen": f"{s.host}:{s.port('nginx')}",
            "nginx_status_listen": f"{s.host}:{s.port('nginx-status')}",
            "truthsync_upstreams": [f"{s.host}:{s.port(n)}" for n in routing.routed(running, toggle_values)]
            or [f"{s.host}:{s.port(replica_name('truthsync', 1))}"],
            "toggles": {**toggles.defaults(), **toggle_values},
            "alert_token_file": str(s.secret_file("alert_token")),
            "redis_acl": redis_instances.acl(REDIS_USERS, {u: s.secret(f"redis_{u}") for u in REDIS_USERS}),
            "pgaudit": PGAUDIT, "redis_instances": redis_instances.BY_SERVICE,
            "n8n": s.n8n,  # alerts reach the local n8n too (LAB_N8N=1)
        }

    def format_context(self) -> dict:
        s = self.settings
        ports = {f"port_{k.replace('-', '_')}": s.port(k) for k in LOCAL_PORTS}
        return {"python": sys.executable, "host": s.host, "run": str(self.run), "config": str(self.run / "config"),
                "logs": str(s.log_dir), "database_url": s.database_url, "redis_url": s.redis_url,
                "probe_database_url": s.probe_database_url,
                **{f"redis_url_{user}": s.redis_url_as(user) for user in REDIS_USERS},
                **{f"redis_cache_url_{user}": s.redis_url_as(user, redis_instances.CACHE.service)
                   for user in REDIS_USERS},
                "redis_password_exporter": s.secret("redis_exporter"),
                "pg_bin": str(PG_BIN), "admin_token": s.secret("admin_token"), "jwt_secret": s.secret("jwt_secret"),
                "remediator_token": s.secret("remediator_token"),
                "alert_token_file": str(s.secret_file("alert_token")), "monitor_url": s.monitor_url, **ports}

    def init_postgres(self) -> None:
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

    def bootstrap_postgres(self) -> None:
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

    def stop_stray_postgres(self) -> None:
        """A Postgres left running by a killed supervisord still holds its data dir: stop it."""
        if (self.run / "pgdata" / "postmaster.pid").exists():
            cmd = [str(PG_BIN / "pg_ctl"), "-D", str(self.run / "pgdata"), "-m", "fast", "-w", "stop"]
            if os.geteuid() == 0:
                cmd = ["runuser", "-u", "postgres", "--", *cmd]
            subprocess.run(cmd, capture_output=True)
