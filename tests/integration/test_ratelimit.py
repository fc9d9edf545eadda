"""The three limiters against a real Redis: what each admits under a concurrent burst, at a window
boundary, and after a process stopped between the published limiter's INCR and EXPIRE."""
import asyncio
import uuid

import pytest
import redis.asyncio as aioredis

from stack.api.metrics import Metrics
from stack.api.ratelimit import LIMITERS, NaiveLimiter

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
async def r(redis_url):
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


def _user() -> int:
    return uuid.uuid4().int % 10**9


async def _burst(limiter, user: int, n: int) -> int:
    decisions = await asyncio.gather(*(limiter.check(user, "GET:/x") for _ in range(n)))
    return sum(d.admitted for d in decisions)


@pytest.mark.parametrize("mode, exact", [("on", True), ("naive", True), ("racy", False)])
async def test_a_concurrent_burst_over_a_fresh_key(r, mode, exact):
    limiter = LIMITERS[mode](r, 20, Metrics(), 30.0)
    admitted = await _burst(limiter, _user(), 60)
    # INCR is atomic: the published limiter is exact here; reading, comparing, then incrementing is not
    assert admitted == 20 if exact else admitted > 20


async def test_at_a_window_boundary_the_published_limiter_admits_twice_the_limit_and_the_lab_limiter_does_not(r):
    user = _user()
    naive, sliding = NaiveLimiter(r, 10, Metrics(), 1.5), LIMITERS["on"](r, 10, Metrics(), 1.5)
    assert await _burst(naive, user, 1) == 1  # opens the fixed window
    assert await _burst(sliding, user + 1, 1) == 1
    await asyncio.sleep(1.0)
    assert await _burst(naive, user, 15) == 9
    assert await _burst(sliding, user + 1, 15) == 9
    await asyncio.sleep(0.6)  # the fixed window ended; the last 9 admissions are 0.6 s old
    assert await _burst(naive, user, 15) == 10  # 19 admitted within 0.6 s, for a limit of 10 per 1.5 s
    assert await _burst(sliding, user + 1, 15) == 1  # only the opening request's slot has freed


async def test_a_process_stopped_between_incr_and_expire_locks_the_user_out_for_good(r, monkeypatch):
    user, limiter = _user(), NaiveLimiter(r, 3, Metrics(), 0.5)

    async def stopped(*args, **kwargs):  # the process dies after INCR, before EXPIRE reaches Redis
        raise asyncio.CancelledError("process stopped between INCR and EXPIRE")

    with monkeypatch.context() as m:
        m.setattr(r, "pexpire", stopped)
        with pytest.raises(asyncio.CancelledError):
            await limiter.check(user, "GET:/x")
    key = limiter.key(user, "GET:/x")
    assert await r.pttl(key) == -1  # a counter with no expiry
    assert await _burst(limiter, user, 5) == 2
    await asyncio.sleep(1.0)  # two windows later the user is still refused, and will be for ever
    assert await _burst(limiter, user, 5) == 0 and await r.pttl(key) == -1
    await r.delete(key)  # only an operator's DEL lets the user back in
    assert await _burst(limiter, user, 5) == 3

    sliding = LIMITERS["on"](r, 3, Metrics(), 0.5)  # one script: there is no between to stop in
    assert await _burst(sliding, user, 5) == 3
    await asyncio.sleep(0.6)
    assert await _burst(sliding, user, 5) == 3 and 0 < await r.pttl(sliding.key(user, "GET:/x")) <= 500
