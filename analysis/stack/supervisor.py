"""supervisord for the local stack: its config file and a small XML-RPC client.

Programs are written with ``autostart=false``: the stack controller starts them
in dependency order and waits for health, so a failure names the service.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import xmlrpc.client
from dataclasses import dataclass
from pathlib import Path

from supervisor.xmlrpc import SupervisorTransport


@dataclass(frozen=True)
class Program:
    name: str
    command: str
    environment: dict[str, str]
    directory: str
    stdout: str
    user: str | None = None
    stop_signal: str = "TERM"


def _env_line(env: dict[str, str]) -> str:
    # supervisord's environment syntax: KEY="value",KEY2="value2"; % must be doubled.
    def q(v: str) -> str:
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%") + '"'
    return ",".join(f"{k}={q(v)}" for k, v in sorted(env.items()))


class Supervisor:
    """Start, talk to and shut down one supervisord instance."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.conf = run_dir / "supervisord.conf"
        self.sock = run_dir / "supervisor.sock"
        self.pidfile = run_dir / "supervisord.pid"

    def write_config(self, programs: list[Program]) -> None:
        """Write supervisord.conf for ``programs``; supervisord itself listens on a 0700 unix socket."""
        run_dir = self.run_dir
        lines = [
            "[unix_http_server]", f"file={self.sock}", "chmod=0700", "",
            "[supervisord]", *(["user=root"] if os.geteuid() == 0 else []),
            f"logfile={run_dir}/logs/supervisord.txt", f"pidfile={self.pidfile}",
            "loglevel=info", "nodaemon=false", f"directory={run_dir}", "minfds=4096", "umask=077", "",
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface", "",
            "[supervisorctl]", f"serverurl=unix://{self.sock}", "",
        ]
        for p in programs:
            lines += [f"[program:{p.name}]",
                      f"command={p.command.replace('%', '%%')}",
                      f"directory={p.directory}",
                      f"environment={_env_line(p.environment)}",
                      "autostart=false", "autorestart=false", "startsecs=1", "startretries=0",
                      f"stopsignal={p.stop_signal}", "stopwaitsecs=20", "stopasgroup=true", "killasgroup=true",
                      f"stdout_logfile={p.stdout}", "stdout_logfile_maxbytes=10MB", "stdout_logfile_backups=1",
                      "redirect_stderr=true"]
            if p.user and os.geteuid() == 0:
                lines.append(f"user={p.user}")
            lines.append("")
        # the programs' environments hold the stack's secrets: owner-only, from the moment it exists
        fd = os.open(self.conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(lines))

    @property
    def rpc(self):
        transport = SupervisorTransport(None, None, f"unix://{self.sock}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor

    def pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def running(self) -> bool:
        if self.pid() is None or not self.sock.exists():
            return False
        try:
            return self.rpc.getState()["statename"] == "RUNNING"
        except (OSError, xmlrpc.client.Fault):
            return False

    def start(self, timeout: float = 15.0) -> None:
        if self.running():
            return
        if len(str(self.sock)) > 100:
            raise RuntimeError(f"run directory path too long for a unix socket: {self.run_dir}; "
                               "set LAB_RUN_DIR to a shorter path")
        self.sock.unlink(missing_ok=True)
        exe = Path(sys.executable).with_name("supervisord")
        subprocess.run([str(exe) if exe.exists() else "supervisord", "-c", str(self.conf)], check=True,
                       capture_output=True)
        deadline = time.monotonic() + timeout
        while not self.running():
            if time.monotonic() > deadline:
                raise RuntimeError(f"supervisord did not start; see {self.run_dir}/logs/supervisord.txt")
            time.sleep(0.1)

    def reload(self) -> tuple[list[str], list[str], list[str]]:
        """Re-read the config; returns (added, changed, removed) program names."""
        added, changed, removed = self.rpc.reloadConfig()[0]
        return added, changed, removed

    def info(self) -> dict[str, dict]:
        if not self.running():
            return {}
        return {p["name"]: p for p in self.rpc.getAllProcessInfo()}

    def shutdown(self, timeout: float = 60.0) -> None:
        pid = self.pid()
        if pid is None:
            return
        try:
            self.rpc.stopAllProcesses(True)
            self.rpc.shutdown()
        except (OSError, xmlrpc.client.Fault):
            os.kill(pid, 15)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, 9)


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False
