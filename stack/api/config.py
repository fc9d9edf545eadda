"""The API's settings, read once from the environment at start (toggle names are the lab's interface)."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field

from stack.api import ratelimit
from stack.api.passwords import ITERATIONS
from stack.envconfig import ConfigError, cache_redis_url, choice, number


@dataclass(frozen=True)
class ApiConfig:
    database_url: str
    redis_url: str
    cache_redis_url: str = ""  # REDIS_CACHE_URL: the evictable instance dashboard values live in (unset: redis_url)
    probe_database_url: str | None = field(default=None, repr=False)  # PROBE_DATABASE_URL (stack.lab_probe)
    host: str = "127.0.0.1"
    port: int = 8000
    service_name: str = "api"
    log_file: str | None = None
    cache: str = "off"  # SENTINEL_CACHE
    cache_ttl_s: float = 30.0  # SENTINEL_CACHE_TTL_S
    ratelimit: str = "off"  # SENTINEL_RATELIMIT
    ratelimit_per_min: int = 600  # SENTINEL_RATELIMIT_PER_MIN: requests per window
    ratelimit_window_s: float = 60.0  # SENTINEL_RATELIMIT_WINDOW_S
    sessions: str = "jwt"  # SENTINEL_SESSIONS
    session_ttl_s: int = 3600  # SENTINEL_SESSION_TTL_S
    notify: str = "poll"  # SENTINEL_NOTIFY
    notify_poll_s: float = 1.0  # SENTINEL_NOTIFY_POLL_S: how often a poll-mode stream looks for new incidents
    jwt_secret: str = field(default="", repr=False)  # SENTINEL_JWT_SECRET
    jwt_secret_generated: bool = False
    admin_token: str | None = field(default=None, repr=False)  # SENTINEL_ADMIN_TOKEN
    db_pool_size: int = 10  # SENTINEL_DB_POOL_SIZE
    max_body_bytes: int = 64 * 1024
    password_iterations: int = ITERATIONS  # SENTINEL_PASSWORD_ITERATIONS: weaker hashes are upgraded at login

    @property
    def cache_on(self) -> bool:
        return self.cache == "on"

    @property
    def ratelimit_on(self) -> bool:
        return self.ratelimit != "off"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> "ApiConfig":
        env = dict(os.environ if env is None else env)
        missing = [n for n in ("DATABASE_URL", "REDIS_URL") if not env.get(n) and n.lower() not in overrides]
        if missing:
            raise ConfigError(f"set {' and '.join(missing)} (postgresql://… and redis://…) before starting the API")
        secret = env.get("SENTINEL_JWT_SECRET", "")
        values = dict(
            database_url=env.get("DATABASE_URL", ""), redis_url=env.get("REDIS_URL", ""),
            cache_redis_url=cache_redis_url(env),
            probe_database_url=env.get("PROBE_DATABASE_URL") or None,
            host=env.get("HOST", "127.0.0.1"), port=int(env.get("PORT", "8000")),
            service_name=env.get("SERVICE_NAME", "api"), log_file=env.get("LOG_FILE") or None,
            cache=choice(env, "SENTINEL_CACHE", "off", ("off", "on")),
            cache_ttl_s=number(env, "SENTINEL_CACHE_TTL_S", 30.0),
            ratelimit=choice(env, "SENTINEL_RATELIMIT", "off", ratelimit.MODES),
            ratelimit_per_min=int(number(env, "SENTINEL_RATELIMIT_PER_MIN", 600, float)),
            ratelimit_window_s=number(env, "SENTINEL_RATELIMIT_WINDOW_S", 60.0),
            sessions=choice(env, "SENTINEL_SESSIONS", "jwt", ("jwt", "redis")),
            session_ttl_s=int(number(env, "SENTINEL_SESSION_TTL_S", 3600, float)),
            notify=choice(env, "SENTINEL_NOTIFY", "poll", ("poll", "pubsub")),
            notify_poll_s=number(env, "SENTINEL_NOTIFY_POLL_S", 1.0),
            jwt_secret=secret or secrets.token_urlsafe(32), jwt_secret_generated=not secret,
            admin_token=env.get("SENTINEL_ADMIN_TOKEN") or None,
            db_pool_size=int(number(env, "SENTINEL_DB_POOL_SIZE", 10, float)),
            password_iterations=int(number(env, "SENTINEL_PASSWORD_ITERATIONS", ITERATIONS, float)),
        )
        values.update(overrides)
        return cls(**values)
