"""One battery of behaviour tests for both SharedState backends: LocalState in memory and
RedisState against a real redis-server. Every time is an explicit `now` (or a fake clock for
claim_probe and heartbeat), so the numbers are exact and nothing sleeps."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

import attrs
import pytest
import trio

from actors.state import Cap, LocalState, SharedState, Window
from actors.state.redis_state import RedisState
from tests.redis_server import redis_server


@attrs.define
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@attrs.define
class Backend:
    state: SharedState
    clock: Clock


@pytest.fixture(params=["local", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    clock = Clock()
    if request.param == "local":
        async with LocalState(clock) as local:
            yield Backend(local, clock)
        return
    async with redis_server() as server:
        async with RedisState.from_url(server.url, cluster="test", clock=clock) as shared:
            yield Backend(shared, clock)
            assert shared.up, shared.last_error  # no test here may have fallen back


async def test_both_backends_are_shared_states(backend: Backend) -> None:
    assert isinstance(backend.state, SharedState)


async def test_a_request_window_rolls(backend: Backend) -> None:
    state, window = backend.state, (Window(60, max_requests=3),)
    for now in (1000.0, 1010.0, 1020.0):
        assert await state.take("groq/k1/m", window, 0, now) is None
    assert await state.take("groq/k1/m", window, 0, 1030.0) == 30.0
    assert await state.take("groq/k1/m", window, 0, 1059.5) == 0.5
    assert await state.take("groq/k1/m", window, 0, 1060.0) is None  # 1000 left at 1060
    assert await state.take("groq/k1/m", window, 0, 1061.0) == 9.0  # 1010 leaves at 1070
    assert await state.take("groq/k2/m", window, 0, 1061.0) is None  # scopes are apart


async def test_a_token_window_counts_tokens(backend: Backend) -> None:
    state, window = backend.state, (Window(60, max_tokens=100),)
    assert await state.take("s", window, 40, 1000.0) is None
    assert await state.take("s", window, 50, 1010.0) is None
    assert await state.take("s", window, 30, 1020.0) == 40.0  # room once the 40 leave
    assert await state.take("s", window, 10, 1020.0) is None  # exactly 100
    assert await state.take("s", window, 101, 1020.0) == math.inf  # never fits
    assert await state.take("s", (Window(60, max_requests=0),), 0, 1020.0) == math.inf
    assert await state.take("s", window, 60, 1065.0) == 5.0  # 40 left at 1060, 50 at 1070


async def test_every_window_must_have_room_and_a_refusal_records_nothing(
    backend: Backend,
) -> None:
    state = backend.state
    windows = (Window(1, max_requests=1), Window(60, max_requests=5, max_tokens=1000))
    assert await state.take("s", windows, 10, 1000.0) is None
    assert await state.take("s", windows, 10, 1000.5) == 0.5  # the second's window is full
    for now in (1001.0, 1002.0, 1003.0, 1004.0):  # so the refusal was not counted in the minute
        assert await state.take("s", windows, 10, now) is None
    assert await state.take("s", windows, 10, 1005.0) == 55.0
    assert await state.take("s", windows, 2000, 1005.0) == math.inf
    assert await state.take("s", (), 10, 1005.0) is None  # no windows: no limit


async def test_the_wait_is_the_latest_of_the_blocked_windows(backend: Backend) -> None:
    state = backend.state
    windows = (Window(10, max_requests=2), Window(60, max_tokens=100))
    assert await state.take("s", windows, 90, 1000.0) is None
    assert await state.take("s", windows, 5, 1005.0) is None
    # both full: requests free up at 1010, the 90 tokens only at 1060
    assert await state.take("s", windows, 20, 1006.0) == 54.0
    assert await state.take("s", windows, 5, 1006.0) == 4.0  # tokens fit; requests at 1010


async def test_settle_counts_more_tokens_and_ignores_fewer(backend: Backend) -> None:
    state, window = backend.state, (Window(60, max_tokens=100),)
    await state.settle("s", 30, 999.0)  # nothing taken yet: nothing to settle
    assert await state.take("s", window, 50, 1000.0) is None
    await state.settle("s", 30, 1010.0)  # the answer was longer than estimated
    assert await state.take("s", window, 30, 1020.0) == 40.0  # 50 + 30 + 30 > 100
    await state.settle("s", -40, 1020.0)  # shorter: the estimate stays counted
    assert await state.take("s", window, 20, 1020.0) is None  # 50 + 30 + 20 == 100
    assert await state.take("s", window, 51, 1061.0) == 9.0  # the settled 30 leaves at 1070


async def test_a_fixed_window_empties_at_its_end(backend: Backend) -> None:
    state = backend.state
    today = (Window(86_400, max_requests=2, max_tokens=100, ends=1100.0),)
    assert await state.take("s", today, 10, 1000.0) is None
    await state.settle("s", 80, 1005.0)  # the answer was longer: 90 tokens today
    assert await state.take("s", today, 20, 1010.0) == 90.0  # tokens: until the day ends
    assert await state.take("s", today, 10, 1010.0) is None  # exactly 100, 2 requests
    assert await state.take("s", today, 0, 1099.0) == 1.0
    tomorrow = (Window(86_400, max_requests=2, max_tokens=100, ends=87_500.0),)
    assert await state.take("s", tomorrow, 50, 1100.0) is None  # a new day starts empty
    assert await state.take("s", tomorrow, 50, 1101.0) is None
    assert await state.take("s", tomorrow, 0, 1102.0) == 86_398.0
    assert await state.take("s", tomorrow, 101, 1102.0) == math.inf  # never fits


async def test_a_cap_is_spent_by_every_take_until_its_reset(backend: Backend) -> None:
    state = backend.state
    await state.observe("p/k/model:m", (Cap("requests", "requests", 2, 1030.0, 1000.0),))
    assert await state.take("p/k/model:m", (), 0, 1001.0) is None
    assert await state.take("p/k/model:m", (), 0, 1002.0) is None
    assert await state.take("p/k/model:m", (), 0, 1003.0) == 27.0  # none left until 1030
    assert await state.take("p/k/model:x", (), 0, 1003.0) is None  # scopes are apart
    assert await state.take("p/k/model:m", (), 0, 1030.0) is None  # reset: the cap is gone
    assert await state.take("p/k/model:m", (), 0, 1030.5) is None


async def test_a_token_cap_and_windows_both_bound_a_take(backend: Backend) -> None:
    state, windows = backend.state, (Window(60, max_requests=10),)
    await state.observe("s", (Cap("tokens-minute", "tokens", 100, 1020.0, 1000.0),))
    assert await state.take("s", windows, 60, 1001.0) is None
    assert await state.take("s", windows, 60, 1002.0) == 18.0  # 40 tokens left until 1020
    assert await state.take("s", windows, 40, 1002.0) is None  # exactly what is left
    full = (Window(60, max_requests=2),)
    assert await state.take("s", full, 0, 1003.0) == 58.0  # the window, not the cap, blocks
    # both block: the answer is the later of the window (1061) and the cap (1020)
    await state.observe("s", (Cap("tokens-minute", "tokens", 0, 1020.0, 1003.0),))
    assert await state.take("s", full, 1, 1004.0) == 57.0


async def test_a_refused_take_spends_no_cap(backend: Backend) -> None:
    state = backend.state
    caps = (
        Cap("requests", "requests", 1, 1030.0, 1000.0),
        Cap("tokens", "tokens", 10, 1010.0, 1000.0),
    )
    await state.observe("s", caps)
    assert await state.take("s", (), 50, 1001.0) == 9.0  # the token cap resets at 1010
    assert await state.take("s", (), 5, 1001.0) is None  # the request cap was not spent
    assert await state.take("s", (), 5, 1002.0) == 28.0


async def test_older_news_does_not_replace_a_cap(backend: Backend) -> None:
    state = backend.state
    await state.observe("s", (Cap("requests", "requests", 0, 1030.0, 1005.0),))
    await state.observe("s", (Cap("requests", "requests", 50, 1030.0, 1001.0),))  # older
    assert await state.take("s", (), 0, 1006.0) == 24.0
    await state.observe("s", (Cap("requests", "requests", 1, 1040.0, 1006.0),))  # newer
    assert await state.take("s", (), 0, 1006.5) is None
    assert await state.take("s", (), 0, 1007.0) == 33.0


async def test_leases_are_capped_renewable_released_and_expire(backend: Backend) -> None:
    state = backend.state
    assert await state.lease("groq/k1", 2, "a", 30.0, 1000.0)
    assert await state.lease("groq/k1", 2, "b", 30.0, 1001.0)
    assert not await state.lease("groq/k1", 2, "c", 30.0, 1002.0)
    assert await state.lease("groq/k2", 2, "c", 30.0, 1002.0)  # another key, other slots
    assert await state.lease("groq/k1", 2, "a", 30.0, 1010.0)  # a renews: now until 1040
    await state.release("groq/k1", "b")
    await state.release("groq/k1", "never-leased")
    assert await state.lease("groq/k1", 2, "c", 30.0, 1011.0)  # until 1041
    assert not await state.lease("groq/k1", 2, "d", 30.0, 1039.9)
    assert await state.lease("groq/k1", 2, "d", 30.0, 1040.0)  # a expired at 1040: its slot
    assert not await state.lease("groq/k1", 2, "e", 30.0, 1040.5)
    assert await state.lease("groq/k1", 2, "e", 30.0, 1041.0)
    assert not await state.lease("groq/k1", 0, "z", 30.0, 2000.0)


async def test_cooldowns_only_extend_and_list_by_prefix(backend: Backend) -> None:
    state = backend.state
    await state.cool("groq/k1", "m1", 1100.0, strikes=3)
    await state.cool("groq/k1", "m1", 1050.0, strikes=2)  # shorter and lower: ignored
    await state.cool("groq/k2", "", 1200.0)
    await state.cool("openai/k1", "m", 1300.5)
    assert await state.cooling("groq/", 1000.0) == {
        ("groq/k1", "m1"): (1100.0, 3),
        ("groq/k2", ""): (1200.0, 1),
    }
    await state.cool("groq/k1", "m1", 1150.0)  # longer: extends, the ladder stays at 3
    assert await state.cooling("groq/k1", 1100.0) == {("groq/k1", "m1"): (1150.0, 3)}
    await state.cool("groq/k1", "m1", 1120.0, strikes=4)  # higher: the ladder climbs
    assert await state.cooling("groq/k1", 1100.0) == {("groq/k1", "m1"): (1150.0, 4)}
    assert await state.cooling("groq/", 1150.0) == {("groq/k2", ""): (1200.0, 1)}  # ended
    await state.cool("groq/k1", "m1", 1160.0)  # a new cooldown: the ended one's ladder went
    assert await state.cooling("groq/k1", 1150.0) == {("groq/k1", "m1"): (1160.0, 1)}
    assert await state.cooling("", 1250.0) == {("openai/k1", "m"): (1300.5, 1)}
    assert await state.cooling("mistral/", 1000.0) == {}
    with pytest.raises(ValueError, match="separator"):
        await state.cool("groq/k1\x1fx", "m", 2000.0)


async def test_a_cooldown_that_has_ended_starts_a_new_ladder(backend: Backend) -> None:
    state, clock = backend.state, backend.clock
    await state.cool("p/k", "m", 1100.0, strikes=4)
    clock.now = 2000.0  # it ended at 1100, and nobody has listed cooldowns since
    await state.cool("p/k", "m", 2010.0)  # the key's first failure in a long while
    assert await state.cooling("p/", 2001.0) == {("p/k", "m"): (2010.0, 1)}
    await state.cool("p/k", "m", 2005.0, strikes=2)  # while it lasts: the ladder climbs
    assert await state.cooling("p/", 2001.0) == {("p/k", "m"): (2010.0, 2)}


async def test_the_first_probe_claim_wins_until_its_ttl(backend: Backend) -> None:
    state, clock = backend.state, backend.clock
    assert await state.claim_probe("groq/k1", "m", 10.0)
    assert not await state.claim_probe("groq/k1", "m", 10.0)
    assert await state.claim_probe("groq/k1", "other", 10.0)
    clock.now = 1009.9
    assert not await state.claim_probe("groq/k1", "m", 10.0)
    clock.now = 1010.0
    assert await state.claim_probe("groq/k1", "m", 10.0)


async def test_heartbeats_count_the_instances_alive(backend: Backend) -> None:
    state, clock = backend.state, backend.clock
    assert await state.heartbeat("a", 10.0) == 1
    assert await state.heartbeat("b", 10.0) == 2
    assert await state.heartbeat("a", 10.0) == 2  # again: still two
    clock.now = 1005.0
    assert await state.heartbeat("a", 10.0) == 2
    clock.now = 1010.0  # b was alive until 1010
    assert await state.heartbeat("a", 10.0) == 1


async def test_every_method_checkpoints(backend: Backend) -> None:
    with trio.CancelScope() as scope:
        scope.cancel()
        with pytest.raises(trio.Cancelled):
            await backend.state.cooling("", 1000.0)
