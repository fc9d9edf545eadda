"""L1: LRU + TTL with a dict fast path, driven by an injected clock."""
import pytest

from truthsync.local_cache import TOUCH_EVERY, LocalCache


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_an_entry_expires_after_its_ttl_and_leaves_the_fast_path():
    clock = Clock()
    l1 = LocalCache(10, ttl_s=5, clock=clock)
    l1.put("claim", "verdict")
    assert l1.get("claim", clock()) == "verdict"
    clock.t += 4.9
    assert l1.get("claim", clock()) == "verdict"
    clock.t += 0.2
    assert l1.get("claim", clock()) is None
    l1.put("other", "v")  # a write purges expired entries from both structures
    assert len(l1) == 1


def test_the_least_recently_used_entry_is_evicted_and_hot_keys_stay():
    clock = Clock()
    l1 = LocalCache(3, ttl_s=60, clock=clock)
    for k in "abc":
        l1.put(k, k.upper())
    for _ in range(TOUCH_EVERY):  # "a" is hot: its LRU place is refreshed by sampled hits
        assert l1.get("a", clock()) == "A"
    l1.put("d", "D")
    assert l1.get("b", clock()) is None
    assert [l1.get(k, clock()) for k in "acd"] == ["A", "C", "D"]
    assert len(l1) == 3


def test_bad_sizes_are_refused_with_the_variable_to_fix():
    with pytest.raises(ValueError, match="TRUTHSYNC_L1_SIZE"):
        LocalCache(0, 10)
