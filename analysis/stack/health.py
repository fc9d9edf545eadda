"""Health checks by kind: one function each, returning (healthy, detail)."""
from __future__ import annotations

import socket

import httpx
import psycopg
import redis

from analysis.stack.catalogue import Service


def check(service: Service, host: str, port: int | None, *, pg_socket_dir: str | None = None,
          redis_url: str | None = None, timeout: float = 2.0) -> tuple[bool, str]:
    """Is ``service`` answering? ``process`` checks are decided by the caller (supervisor state).
    ``redis_url`` carries the credentials a Redis with authentication needs."""
    kind = service.health.kind
    try:
        if kind == "http":
            # plain HTTP on loopback: verify=False skips loading the CA bundle (~0.3 s a check on a busy machine)
            r = httpx.get(f"http://{host}:{port}{service.health.path}", timeout=timeout, verify=False)
            return r.status_code == 200, f"GET {service.health.path} → {r.status_code}"
        if kind == "tcp":
            socket.create_connection((host, port), timeout).close()
            return True, "accepts connections"
        if kind == "redis":
            client = (redis.Redis.from_url(redis_url, socket_timeout=timeout) if redis_url
                      else redis.Redis(host=host, port=port, socket_timeout=timeout))
            with client:
                ok = client.ping()
            return bool(ok), "PING → PONG"
        if kind == "postgres":
            with psycopg.connect(host=pg_socket_dir or host, port=port, user="postgres", dbname="postgres",
                                 connect_timeout=max(1, int(timeout))) as conn:
                conn.execute("SELECT 1")
            return True, "SELECT 1"
    except (OSError, httpx.HTTPError, redis.RedisError, psycopg.Error) as exc:
        return False, f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    return True, "process running"


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0
