"""RedisState beyond the shared battery: instances racing for the last slot, the key layout,
and the degraded mode (Redis killed, or silent, then back)."""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import coredis
import pytest
import trio
from loguru import logger

from actors.state import Cap, Window
from actors.state.redis_state import RedisState
from tests.redis_server import redis_server

MINUTE = (Window(60, max_requests=60),)


@asynccontextmanager
async def two_instances() -> AsyncIterator[tuple[RedisState, RedisState, trio.Nursery]]:
    """Two instances of one cluster on a fresh Redis, and a nursery to race them in."""
    async with redis_server() as server:
        async with (
            RedisState.from_url(server.url, cluster="race", timeout=5) as one,
            RedisState.from_url(server.url, cluster="race", timeout=5) as two,
            trio.open_nursery() as nursery,
        ):
            yield one, two, nursery


async def test_two_instances_hammering_one_window_never_exceed_it() -> None:
    granted = 0

    async def hammer(state: RedisState, worker: int) -> None:
        nonlocal granted
        for attempt in range(12):
            now = 1000.0 + worker * 0.01 + attempt * 0.001
            if await state.take("groq/k1/m", MINUTE, 10, now) is None:
                granted += 1

    with trio.fail_after(20):
        async with two_instances() as (one, two, nursery):
            for worker in range(10):
                nursery.start_soon(hammer, one, worker)
                nursery.start_soon(hammer, two, worker)
        assert one.up and two.up
    assert granted == 60  # of 240 attempts


async def test_two_instances_racing_for_leases_share_the_cap() -> None:
    won: list[str] = []

    async def grab(state: RedisState, lease_id: str) -> None:
        if await state.lease("groq/k1", 5, lease_id, 30.0, 1000.0):
            won.append(lease_id)

    with trio.fail_after(20):
        async with two_instances() as (one, two, nursery):
            for n in range(20):
                nursery.start_soon(grab, one, f"one-{n}")
                nursery.start_soon(grab, two, f"two-{n}")
    assert len(won) == 5


async def test_keys_live_under_the_cluster_and_name_no_secret() -> None:
    with trio.fail_after(20):
        async with redis_server() as server:
            async with RedisState.from_url(server.url, cluster="c1") as state:
                await state.take("groq/k1/m", (Window(60, 5), Window(86400, 100)), 1, 1000.0)
                await state.lease("groq/k1", 2, "lease-1", 30.0, 1000.0)
                await state.cool("groq/k1", "m", 2000.0)
                await state.claim_probe("groq/k1", "m", 30.0)
                await state.heartbeat("host-a:1", 30.0)
            async with coredis.Redis.from_url(server.url, decode_responses=True) as raw:
                keys = sorted(await raw.keys("*"))
    assert keys == [
        "baton:c1:cool",
        "baton:c1:instances",
        "baton:c1:lease:groq/k1",
        "baton:c1:log:60:groq/k1/m",
        "baton:c1:log:86400:groq/k1/m",
        "baton:c1:probe:groq/k1\x1fm",
        "baton:c1:seq:groq/k1/m",
        "baton:c1:strikes",
        "baton:c1:sum:60:groq/k1/m",
        "baton:c1:sum:86400:groq/k1/m",
    ]
    state = RedisState.from_url("redis://:hunter2@127.0.0.1:1/3", cluster="c1")
    assert "hunter2" not in repr(state) and state.location == "127.0.0.1:1/3"
    with pytest.raises(ValueError, match="redis://"):
        RedisState.from_url("http://127.0.0.1:1/0")


async def test_redis_down_means_local_answers_with_divided_limits_then_redis_again() -> None:
    records: list[tuple[str, str]] = []
    sink = logger.add(lambda m: records.append((m.record["level"].name, m.record["message"])))
    window = (Window(60, max_requests=10),)
    try:
        with trio.fail_after(30):
            async with redis_server() as server:
                async with (
                    RedisState.from_url(server.url, cluster="d", retry_interval=0.2) as state,
                    RedisState.from_url(server.url, cluster="d") as other,
                ):
                    assert await other.heartbeat("b", 60.0) == 1
                    assert await state.heartbeat("a", 60.0) == 2
                    assert state.last_instances == 2
                    for now in (1000.0, 1001.0):  # recorded in Redis, mirrored locally
                        assert await state.take("s", window, 0, now) is None
                    assert await state.lease("k", 4, "held", 30.0, 1000.0)
                    await state.cool("k", "m", 1500.0)

                    await server.stop()
                    # this instance's share of 10 is 5, of which it has spent 2
                    for now in (1002.0, 1003.0, 1004.0):
                        assert await state.take("s", window, 0, now) is None
                    assert not state.up and state.outages == 1
                    assert await state.take("s", window, 0, 1005.0) == 55.0
                    assert await state.lease("k", 4, "second", 30.0, 1000.0)  # share: 2
                    assert not await state.lease("k", 4, "third", 30.0, 1000.0)
                    await state.release("k", "held")
                    assert await state.cooling("", 1000.0) == {("k", "m"): (1500.0, 1)}
                    assert await state.claim_probe("k", "m", 30.0)
                    assert await state.heartbeat("a", 60.0) == 1
                    await state.settle("s", 5, 1005.0)
                    assert state.last_instances == 2  # the last count Redis gave
                    warnings = [m for level, m in records if level == "WARNING"]
                    assert len(warnings) == 1 and "local state" in warnings[0]

                    await server.start()  # empty: no persistence
                    await trio.sleep(0.25)  # past the retry interval
                    assert await state.take("s", window, 0, 1006.0) is None
                    assert state.up
                    assert [level for level, _ in records if level == "INFO"] == ["INFO"]
                    assert len([m for level, m in records if level == "WARNING"]) == 1
    finally:
        logger.remove(sink)


async def test_a_silent_redis_costs_one_timeout_then_local_answers() -> None:
    with trio.fail_after(30):
        async with redis_server() as server:
            async with RedisState.from_url(
                server.url, cluster="s", timeout=0.2, retry_interval=60
            ) as state:
                assert await state.take("s", MINUTE, 0, 1000.0) is None
                server.pause()
                started = trio.current_time()
                assert await state.take("s", MINUTE, 0, 1001.0) is None  # after the timeout
                assert 0.2 <= trio.current_time() - started < 1.0
                assert not state.up and state.last_error == "TooSlowError"
                started = trio.current_time()
                for now in range(1002, 1060):  # within the retry interval: no waiting at all
                    assert await state.take("s", MINUTE, 0, float(now)) is None
                assert await state.take("s", MINUTE, 0, 1060.0) is None  # 1000 has left
                assert await state.take("s", MINUTE, 0, 1060.5) == 0.5  # 1001 leaves at 1061
                server.resume()


async def test_a_release_redis_missed_is_sent_when_it_answers_again() -> None:
    """A slot released while Redis is silent is not left to its TTL: it is freed in Redis as
    soon as a later call gets through (else a key with one slot would be closed fleet-wide
    for the lease's whole TTL after a hiccup)."""
    with trio.fail_after(30):
        async with redis_server() as server:
            async with RedisState.from_url(
                server.url, cluster="owed", timeout=0.3, retry_interval=0.2
            ) as state:
                assert await state.lease("p/k", 1, "L1", 900.0, 1000.0) is True
                server.pause()
                try:
                    await state.release("p/k", "L1")  # times out: owed
                finally:
                    server.resume()
                assert state.up is False
                await trio.sleep(0.3)  # past the retry interval
                await state.heartbeat("me", 10.0)  # gets through: the owed release goes
                assert state.up is True
                client = coredis.Redis.from_url(server.url, decode_responses=True)
                async with client:
                    assert await client.zrange("baton:owed:lease:p/k", 0, -1) == ()
                assert await state.lease("p/k", 1, "L2", 900.0, 1001.0) is True


async def test_a_stopping_instance_gives_its_slots_back() -> None:
    with trio.fail_after(30):
        async with redis_server() as server:
            async with RedisState.from_url(server.url, cluster="stop") as state:
                assert await state.lease("p/k", 2, "L1", 900.0, 1000.0)
                assert await state.lease("p/j", 1, "L2", 900.0, 1000.0)
                await state.release_held()
            client = coredis.Redis.from_url(server.url, decode_responses=True)
            async with client:
                assert await client.zrange("baton:stop:lease:p/k", 0, -1) == ()
                assert await client.zrange("baton:stop:lease:p/j", 0, -1) == ()


async def test_a_reset_past_reason_neither_raises_nor_takes_redis_down() -> None:
    """Caps from a broken or hostile upstream header: infinite or absurdly far resets."""
    with trio.fail_after(20):
        async with redis_server() as server:
            async with RedisState.from_url(server.url, cluster="c") as state:
                now = time.time()
                await state.observe("s", (Cap("requests", "requests", 0, math.inf, now),))
                await state.observe("s", (Cap("tokens", "tokens", 0, now + 1e17, now),))
                assert state.up, state.last_error
                assert await state.take("s", (), 10, now + 1) == pytest.approx(1e17, rel=1e-6)


async def test_a_settle_after_its_windows_expired_leaves_no_key_for_ever() -> None:
    with trio.fail_after(20):
        async with redis_server() as server:
            async with RedisState.from_url(server.url, cluster="c") as state:
                now = time.time()
                assert await state.take("s", (Window(0.5, max_tokens=100),), 10, now) is None
                await trio.sleep(1.8)  # the window's keys, and the scope's seq, expire
                await state.settle("s", 5, time.time())
                assert state.up, state.last_error
            async with coredis.Redis.from_url(server.url, decode_responses=True) as raw:
                for key in await raw.keys("*"):
                    assert await raw.pttl(key) > 0, key  # every key goes by itself
