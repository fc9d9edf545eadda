"""The API's settings, read once from the environment at start (toggle names are the lab's interface)."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field

from stack.api.passwords import ITERATIONS
from stack.envconfig import ConfigError, cache_redis_url, number
from stack.toggle_spec import TOGGLES


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
    cache: str = TOGGLES["SENTINEL_CACHE"].value
    cache_ttl_s: float = TOGGLES["SENTINEL_CACHE_TTL_S"].value
    ratelimit: str = TOGGLES["SENTINEL_RATELIMIT"].value
    ratelimit_per_min: int = TOGGLES["SENTINEL_RATELIMIT_PER_MIN"].value  # requests per window
    ratelimit_window_s: float = TOGGLES["SENTINEL_RATELIMIT_WINDOW_S"].value
    sessions: str = TOGGLES["SENTINEL_SESSIONS"].value
    session_ttl_s: int = 3600  # SENTINEL_SESSION_TTL_S
    notify: str = TOGGLES["SENTINEL_NOTIFY"].value
    notify_poll_s: float = TOGGLES["SENTINEL_NOTIFY_POLL_S"].value  # how often a poll-mode stream looks
    aa_arm: str = TOGGLES["SENTINEL_AA_ARM"].value  # no-op: the A/A pattern flips it to restart the API
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
            cache=TOGGLES["SENTINEL_CACHE"].read(env),
            cache_ttl_s=TOGGLES["SENTINEL_CACHE_TTL_S"].read(env),
            ratelimit=TOGGLES["SENTINEL_RATELIMIT"].read(env),
            ratelimit_per_min=TOGGLES["SENTINEL_RATELIMIT_PER_MIN"].read(env),
            ratelimit_window_s=TOGGLES["SENTINEL_RATELIMIT_WINDOW_S"].read(env),
            sessions=TOGGLES["SENTINEL_SESSIONS"].read(env),
            session_ttl_s=int(number(env, "SENTINEL_SESSION_TTL_S", 3600, float)),
            notify=TOGGLES["SENTINEL_NOTIFY"].read(env),
            notify_poll_s=TOGGLES["SENTINEL_NOTIFY_POLL_S"].read(env),
            aa_arm=TOGGLES["SENTINEL_AA_ARM"].read(env),
            jwt_secret=secret or secrets.token_urlsafe(32), jwt_secret_generated=not secret,
            admin_token=env.get("SENTINEL_ADMIN_TOKEN") or None,
            db_pool_size=int(number(env, "SENTINEL_DB_POOL_SIZE", 10, float)),
            password_iterations=int(number(env, "SENTINEL_PASSWORD_ITERATIONS", ITERATIONS, float)),
        )
        values.update(overrides)
        return cls(**values)
