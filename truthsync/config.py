"""The service's settings, read once from the environment the stack controller sets."""
from __future__ import annotations

import os
from dataclasses import dataclass, fields

from stack.envconfig import CACHE_URL_ENV, ConfigError
from stack.toggle_spec import TOGGLES


@dataclass(frozen=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str = ""
    redis_url: str = "redis://127.0.0.1:6379/0"
    cache_redis_url: str = ""  # REDIS_CACHE_URL: the evictable instance the L2 lives in (unset: redis_url)
    log_file: str = ""  # empty: JSON lines on stderr
    service_name: str = "truthsync"
    l2: bool = TOGGLES["TRUTHSYNC_L2"].value == "on"
    l1_size: int = TOGGLES["TRUTHSYNC_L1_SIZE"].value
    l1_ttl_s: float = TOGGLES["TRUTHSYNC_L1_TTL_S"].value
    l2_ttl_s: int = TOGGLES["TRUTHSYNC_L2_TTL_S"].value
    l2_timeout_s: float = 0.25
    batch_max: int = TOGGLES["TRUTHSYNC_BATCH_MAX"].value
    max_body_bytes: int = 1 << 20
    db_pool: int = 4

    _ENV = {"host": "HOST", "port": "PORT", "database_url": "DATABASE_URL", "redis_url": "REDIS_URL",
            "cache_redis_url": CACHE_URL_ENV,
            "log_file": "LOG_FILE", "service_name": "SERVICE_NAME"}

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Config":
        """Defaults overridden by HOST, PORT, ... and TRUTHSYNC_<FIELD> (e.g. TRUTHSYNC_L1_SIZE); the
        lab's toggles among them are read through their one declaration (stack/toggle_spec.py)."""
        env = os.environ if env is None else env
        values = {}
        for f in fields(cls):
            name = cls._ENV.get(f.name, f"TRUTHSYNC_{f.name.upper()}")
            raw = env.get(name)
            if raw is None:
                continue
            if name in TOGGLES:
                value = TOGGLES[name].read(env)
                values[f.name] = value == "on" if f.type in (bool, "bool") else value
                continue
            kind = type(getattr(cls, f.name))
            try:
                if kind is bool:
                    if raw.lower() not in {"on", "off", "true", "false", "1", "0"}:
                        raise ValueError(raw)
                    values[f.name] = raw.lower() in {"on", "true", "1"}
                else:
                    values[f.name] = kind(raw)
            except ValueError:
                raise ConfigError(f"{name}={raw!r} is not a valid {kind.__name__}"
                                  + (" (use on or off)" if kind is bool else "")) from None
        config = cls(**values)
        if not config.database_url:
            raise ConfigError("DATABASE_URL is not set: TruthSync needs its fact store (postgresql://...)")
        return config
