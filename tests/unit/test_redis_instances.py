"""The two Redis instances are declared once and every consumer is wired to the right one."""
from __future__ import annotations

from analysis.redis_instances import BY_SERVICE, CACHE, INSTANCES, MAIN
from analysis.settings import REDIS_USERS, Settings
from analysis.stack import catalogue
from analysis.stack.local import LocalStack
from stack.api.config import ApiConfig
from stack.envconfig import CACHE_URL_ENV
from truthsync.config import Config as TruthSyncConfig


def test_only_the_cache_instance_may_evict():
    assert MAIN.policy == "noeviction" and CACHE.policy == "allkeys-lru"
    assert {i.service for i in INSTANCES} == set(BY_SERVICE) == {"redis", "redis-cache"}


def test_the_caches_consumers_get_the_cache_instance_as_their_own_user_and_the_rest_the_main_one(tmp_path):
    settings = Settings(run_dir=tmp_path, port_base=31000)
    ctx = LocalStack(settings).provision.format_context()
    services = catalogue.by_name(settings)
    for name, user in (("api", "api"), ("truthsync-1", "truthsync"), ("remediator", "remediator")):
        env = services[name].environment
        cache_url = env[CACHE_URL_ENV].format(**ctx)
        assert cache_url == settings.redis_url_as(user, CACHE.service) and ":31380/" in cache_url
        assert env["REDIS_URL"].format(**ctx) == settings.redis_url_as(user) and CACHE.service in services[name].depends_on
    assert CACHE_URL_ENV not in services["worker"].environment  # the queue and counters: main only
    exporters = {s.environment["REDIS_ADDR"].format(**ctx) for s in services.values() if s.name.endswith("exporter")
                 and "REDIS_ADDR" in s.environment}
    assert exporters == {f"redis://127.0.0.1:{settings.port(i.service)}" for i in INSTANCES}
    assert set(settings.redis_urls()) == set(BY_SERVICE) and "lab" in REDIS_USERS


def test_services_read_the_cache_url_and_fall_back_to_the_one_redis():
    base = {"DATABASE_URL": "postgresql://x", "REDIS_URL": "redis://main"}
    assert ApiConfig.from_env(base).cache_redis_url == "redis://main"
    assert ApiConfig.from_env({**base, CACHE_URL_ENV: "redis://cache"}).cache_redis_url == "redis://cache"
    assert TruthSyncConfig.from_env({**base, CACHE_URL_ENV: "redis://cache"}).cache_redis_url == "redis://cache"
    assert TruthSyncConfig.from_env(base).cache_redis_url == ""  # then the L2 uses redis_url
