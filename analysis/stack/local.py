"""The embedded local stack: the real programs of the Sentinel stack as processes on loopback.

Process control only: configs, the Postgres cluster and the programs are provisioned by
``provision.py`` into the run directory, and every service runs under supervisord. ``up`` starts services in dependency order and
waits for each to be healthy; ``apply`` restarts only what a toggle changes;
``down`` leaves no process and no listening port behind.
"""
from __future__ import annotations

import json
import time

from analysis import redis_instances
from analysis.settings import Settings
from analysis.stack import catalogue, health, toggles
from analysis.stack.base import ServiceStatus, StackError
from analysis.stack.catalogue import Service
from analysis.stack.provision import Provision
from analysis.stack.supervisor import Supervisor

RELOAD_SETTLE_S = 1.0  # a reloaded Postgres has re-read its config well within this


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
        self.provision = Provision(self.settings, self.services)

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
        self.provision.stop_stray_postgres()

    def toggles(self) -> dict[str, str]:
        return self._toggles()

    # --------------------------------------------------------------- internals
    def _toggles(self) -> dict[str, str]:
        path = self.run / "toggles.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def _prepare(self, toggle_values: dict[str, str]) -> None:
        """Everything on disk for ``toggle_values`` (provision.py), then supervisord's programs."""
        self.supervisor.write_config(self.provision.programs(toggle_values))

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
                        self.provision.bootstrap_postgres()
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
        cmd = s.command.format(**self.provision.format_context(), name=s.name,
                               port=self.settings.port(s.port) if s.port else "")
        return StackError(f"service {s.name} is not healthy: {detail}\ncommand: {cmd}\n" + "\n".join(tails))


def _with_dependencies(names: set[str], every: dict[str, Service]) -> set[str]:
    out, todo = set(), list(names)
    while todo:
        n = todo.pop()
        if n not in out and n in every:
            out.add(n)
            todo.extend(every[n].depends_on)
    return out
