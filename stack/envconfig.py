"""Reading a service's settings from the environment: one error type, and checks that name the variable."""
from __future__ import annotations


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def number(env: dict[str, str], name: str, default: float, kind=float):
    """A positive number of ``kind`` from ``env[name]`` (``default`` when unset)."""
    raw = env.get(name, str(default))
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} must be a number") from None
    if value <= 0:
        raise ConfigError(f"{name}={raw!r} must be positive")
    return value


#: the evictable cache instance's URL (analysis.redis_instances); unset, the caches share ``REDIS_URL``
CACHE_URL_ENV = "REDIS_CACHE_URL"


def cache_redis_url(env: dict[str, str]) -> str:
    """Where a service keeps what may be evicted (query caches): ``REDIS_CACHE_URL``, else ``REDIS_URL``."""
    return env.get(CACHE_URL_ENV) or env.get("REDIS_URL", "")
