"""P5: the L2 shared by instances, its TTL, and what happens when Redis goes away."""
import json
import time

import httpx
import pytest
import redis
from fastapi.testclient import TestClient

from truthsync import instances
from truthsync.app import create_app
from truthsync.config import Config
from truthsync.dataset import prepare
from truthsync.text import normalise, stable_key

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def facts(pg_dsn, tmp_path_factory):
    return prepare(pg_dsn, 700, 1.1, 5, tmp_path_factory.mktemp("truthsync"))


def _app(pg_dsn, redis_url, **overrides):
    return TestClient(create_app(Config(database_url=pg_dsn, redis_url=redis_url, **{"l2": True, **overrides})))


def _cache_of(client, text):
    r = client.post("/verify", json={"text": text})
    assert r.status_code == 200, r.text
    return r.json()["claims"][0]["cache"]


def test_a_claim_computed_on_instance_1_is_an_l2_hit_on_instance_2(pg_dsn, redis_url, facts, tmp_path):
    text = "The population of Sharedtown is 7,100."
    with instances.running(2, pg_dsn, redis_url, tmp_path, TRUTHSYNC_L2="on") as (one, two):
        first = httpx.post(f"{one.url}/verify", json={"text": text}).json()["claims"][0]
        second = httpx.post(f"{two.url}/verify", json={"text": text}).json()["claims"][0]
        again = httpx.post(f"{two.url}/verify", json={"text": text}).json()["claims"][0]
        metrics = httpx.get(f"{two.url}/metrics").text
    assert (first["cache"], second["cache"], again["cache"]) == ("miss", "l2", "l1")
    assert second["verdict"] == first["verdict"]
    assert 'truthsync_cache_lookups_total{level="l2",result="hit"} 1.0' in metrics
    lines = [json.loads(line) for line in (tmp_path / "truthsync-2.log").read_text().splitlines()]
    request = next(line for line in lines if line["message"] == "request" and line["path"] == "/verify")
    assert {"timestamp", "level", "logger", "request_id", "status", "duration_ms"} <= set(request)


def test_without_l2_each_instance_computes_its_own_verdict(pg_dsn, redis_url, facts):
    text = "The population of Lonelyville is 320."
    with _app(pg_dsn, redis_url, l2=False) as one, _app(pg_dsn, redis_url, l2=False) as two:
        assert (_cache_of(one, text), _cache_of(two, text)) == ("miss", "miss")


def test_entries_expire_from_l1_and_l2_after_their_ttl(pg_dsn, redis_url, facts):
    text = "The population of Brieftown is 64."
    with _app(pg_dsn, redis_url, l1_ttl_s=0.5, l2_ttl_s=1) as one, _app(pg_dsn, redis_url) as two:
        assert [_cache_of(one, text), _cache_of(one, text)] == ["miss", "l1"]
        assert redis.Redis.from_url(redis_url).ttl(stable_key(normalise(text))) in (0, 1)
        time.sleep(0.6)
        assert _cache_of(one, text) == "l2"  # L1 expired, L2 still holds it
        time.sleep(1.1)
        assert _cache_of(two, text) == "miss"  # L2 expired too


def test_with_redis_stopped_the_service_answers_from_l1_and_the_fact_store(pg_dsn, private_redis, facts):
    known, fresh = "The population of Stormhold is 900.", "The population of Calmhold is 901."
    with _app(pg_dsn, private_redis.url, l2_timeout_s=0.2) as client:
        assert _cache_of(client, known) == "miss"
        private_redis.stop()
        assert _cache_of(client, known) == "l1"
        assert _cache_of(client, fresh) == "miss"  # L2 read fails: computed, no error for the caller
        errors = [line for line in client.get("/metrics").text.splitlines()
                  if line.startswith("truthsync_l2_errors_total")]
        assert float(errors[0].split()[1]) >= 1
        private_redis.start()
        time.sleep(1.1)  # past the L2 retry interval
        assert _cache_of(client, "The population of Dawnhold is 902.") == "miss"
    assert redis.Redis.from_url(private_redis.url).exists(stable_key(normalise("The population of Dawnhold is 902.")))
