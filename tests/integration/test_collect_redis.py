"""The Redis collector against a real Redis."""
from __future__ import annotations

import math

import pytest
import redis

from analysis.collect import redis as redis_collect
from analysis.redis_instances import CACHE, MAIN

pytestmark = pytest.mark.integration


def test_delta_counts_exactly_the_hits_misses_and_commands_of_the_run(private_redis):
    client = redis.Redis.from_url(private_redis.url)
    client.set("k", "v")
    before = redis_collect.snapshot(private_redis.url)
    for _ in range(6):
        client.get("k")
    for _ in range(4):
        client.get("missing")
    after = redis_collect.snapshot(private_redis.url)
    d = redis_collect.changes(before, after)
    plain = d[d["command"].isna() & d["db"].isna()].set_index("metric")["value"]
    assert plain["keyspace_hits"] == 6 and plain["keyspace_misses"] == 4
    assert plain["total_commands_processed"] >= 10
    gets = d[(d["metric"] == "command_calls") & (d["command"] == "get")]["value"]
    assert gets.tolist() == [10.0]
    assert redis_collect.hit_ratio(d) == pytest.approx(0.6)
    assert plain["used_memory"] > 0  # a gauge keeps its latest value


def test_snapshot_reports_pubsub_channels_and_keys_per_db(private_redis):
    client = redis.Redis.from_url(private_redis.url)
    client.set("a", 1)
    pubsub = client.pubsub()
    pubsub.subscribe("incidents")
    pubsub.get_message(timeout=1)
    snap = redis_collect.snapshot(private_redis.url)
    assert snap.loc[snap["metric"] == "pubsub_channels", "value"].iloc[0] == 1
    assert snap.loc[(snap["metric"] == "db_keys") & (snap["db"] == "db0"), "value"].iloc[0] == 1
    pubsub.close()


def test_a_restarted_redis_counts_as_a_reset_not_a_negative_delta(private_redis):
    client = redis.Redis.from_url(private_redis.url)
    for _ in range(5):
        client.get("x")
    before = redis_collect.snapshot(private_redis.url)
    private_redis.stop()
    private_redis.start()
    redis.Redis.from_url(private_redis.url).get("x")
    d = redis_collect.changes(before, redis_collect.snapshot(private_redis.url))
    assert (d.loc[d["metric"].isin(redis_collect.COUNTERS), "value"] >= 0).all()
    assert math.isnan(redis_collect.hit_ratio(d.iloc[0:0]))


def test_an_unreachable_redis_says_so(private_redis):
    private_redis.stop()
    with pytest.raises(ConnectionError, match="is Redis running"):
        redis_collect.snapshot(private_redis.url)


def test_across_both_instances_the_hit_ratio_is_the_cache_instances_and_commands_add_up(private_redis, redis_url):
    """Sessions and counters answer lookups on the main instance; only the cache instance's are cache hits."""
    urls = {MAIN.service: private_redis.url, CACHE.service: redis_url}
    main, cache = (redis.Redis.from_url(urls[n]) for n in (MAIN.service, CACHE.service))
    main.set("session", "v")
    cache.set("collect-test:dashboard", "v")
    before = redis_collect.snapshot_all(urls)
    for _ in range(9):
        main.get("session")  # 9 main hits
    cache.get("collect-test:dashboard")
    for _ in range(3):
        cache.get("collect-test:cold")  # 1 cache hit, 3 misses
    d = redis_collect.changes(before, redis_collect.snapshot_all(urls))
    cache.delete("collect-test:dashboard")
    assert set(d["instance"]) == {MAIN.service, CACHE.service}
    assert redis_collect.hit_ratio(d) == pytest.approx(0.25)
    plain = d[d["command"].isna() & d["db"].isna() & (d["metric"] == "total_commands_processed")]
    assert plain.set_index("instance")["value"].to_dict()[MAIN.service] >= 9 and len(plain) == 2
