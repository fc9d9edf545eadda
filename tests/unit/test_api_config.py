"""The API's toggles are read from the environment and bad values stop it with a message."""
import pytest

from stack.api.config import ApiConfig, ConfigError

BASE = {"DATABASE_URL": "postgresql://x@127.0.0.1/sentinel", "REDIS_URL": "redis://127.0.0.1:6379/0"}


def test_defaults_are_every_pattern_off():
    config = ApiConfig.from_env(BASE)
    assert (config.cache, config.ratelimit, config.sessions, config.notify) == ("off", "off", "jwt", "poll")
    assert config.admin_token is None and config.jwt_secret_generated


def test_toggles_come_from_their_variables():
    config = ApiConfig.from_env(BASE | {"SENTINEL_CACHE": "on", "SENTINEL_CACHE_TTL_S": "5", "SENTINEL_RATELIMIT": "ON",
                                        "SENTINEL_RATELIMIT_PER_MIN": "30", "SENTINEL_SESSIONS": "redis",
                                        "SENTINEL_NOTIFY": "pubsub", "SENTINEL_ADMIN_TOKEN": "t",
                                        "SENTINEL_JWT_SECRET": "s", "PORT": "25800"})
    assert (config.cache_on, config.cache_ttl_s, config.ratelimit_on, config.ratelimit_per_min) == (True, 5.0, True, 30)
    assert (config.sessions, config.notify, config.admin_token, config.port) == ("redis", "pubsub", "t", 25800)
    assert not config.jwt_secret_generated
    assert "jwt_secret=" not in repr(config) and "admin_token=" not in repr(config)  # secrets stay out of logs


@pytest.mark.parametrize("env, message", [
    ({"SENTINEL_CACHE": "maybe"}, "choose one of off, on"),
    ({"SENTINEL_SESSIONS": "cookie"}, "jwt, redis"),
    ({"SENTINEL_RATELIMIT_PER_MIN": "lots"}, "must be a number"),
    ({"SENTINEL_RATELIMIT": "leaky"}, "off, on, naive, racy"),
    ({"SENTINEL_RATELIMIT_WINDOW_S": "0"}, "must be a positive number"),
    ({"SENTINEL_CACHE_TTL_S": "0"}, "must be a number ≥ 0.001"),
])
def test_bad_values_say_what_to_choose(env, message):
    with pytest.raises(ConfigError, match=message):
        ApiConfig.from_env(BASE | env)


def test_the_published_limiter_and_a_short_window_are_toggles():
    config = ApiConfig.from_env(BASE | {"SENTINEL_RATELIMIT": "naive", "SENTINEL_RATELIMIT_WINDOW_S": "8"})
    assert (config.ratelimit, config.ratelimit_on, config.ratelimit_window_s) == ("naive", True, 8.0)


def test_missing_urls_are_named():
    with pytest.raises(ConfigError, match="DATABASE_URL and REDIS_URL"):
        ApiConfig.from_env({})
