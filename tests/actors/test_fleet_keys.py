"""Two instances' key pools through one shared state (a `LocalState` both hold, as two
processes hold one Redis): cooldowns cross over, one instance sends a probe, slots are the
fleet's."""

from __future__ import annotations

import time

import pytest
import trio

from actors.fleet_keys import FleetKeys
from actors.keypool import Busy, Cooling, KeyPool
from actors.messages import Admit, Observe
from actors.ratelimit import RateLimitTracker
from actors.ratelimit_book import RateLimitBook, Reservation, Skip, WaitUntil
from actors.state import LocalState
from config.model import CooldownPolicy, Credential, Limits, RateLimits
from protocols.failures import FailureClass, UpstreamFailure
from protocols.ratelimit_headers import WindowState

KEYS = (Credential("k#1", "s1"), Credential("k#2", "s2"))


def pools(max_concurrent: int | None = None) -> tuple[KeyPool, KeyPool]:
    return (
        KeyPool(KEYS, max_concurrent=max_concurrent, policy=CooldownPolicy()),
        KeyPool(KEYS, max_concurrent=max_concurrent, policy=CooldownPolicy()),
    )


async def test_a_429_on_one_instance_cools_the_key_on_the_other() -> None:
    shared = LocalState()
    a, b = pools()
    fleet_a, fleet_b = FleetKeys("p", shared), FleetKeys("p", shared)
    limited = UpstreamFailure(FailureClass.RATE_LIMIT, "slow down", status=429, retry_after=30)
    index = a.acquire("m", 100.0)
    assert isinstance(index, int)
    a.release(index)
    a.record_failure(index, "m", limited, 100.0)
    await fleet_a.share_cooldown(a, index, "m", limited, 100.0)
    await fleet_b.impose_cooldowns(b, 500.0)  # another clock: only the time left crosses
    until = b.cooling_until(index, "m", 500.0)
    assert until is not None and 529.0 < until <= 530.0
    assert b.cooling_until(index, "other-model", 500.0) is None  # a 429 cools one model
    other = 1 - index
    assert b.acquire("m", 500.0) == other  # b goes to the other key
    auth = UpstreamFailure(FailureClass.AUTH, "bad key", status=401)
    a.record_failure(other, "m", auth, 100.0)
    await fleet_a.share_cooldown(a, other, "m", auth, 100.0)
    b.release(other)
    await fleet_b.impose_cooldowns(b, 500.0)
    assert b.cooling_until(other, "other-model", 500.0) is not None  # auth: the whole key
    assert isinstance(b.acquire("m", 500.0), Cooling)


async def test_one_instance_sends_the_probe_the_other_waits() -> None:
    shared = LocalState()
    a, b = pools()
    fleet_a, fleet_b = FleetKeys("p", shared), FleetKeys("p", shared)
    for pool in (a, b):
        pool.impose(0, "m", 50.0)  # a cooldown (of key 0 only) that ended at 50
        pool.impose(1, "m", 1e9)
    lease_a = a.acquire("m", 100.0)
    lease_b = b.acquire("m", 100.0)
    assert lease_a == lease_b == 0
    assert a.holds_probe(0, "m", 100.0) and b.holds_probe(0, "m", 100.0)
    assert await fleet_a.claim_probe(a, 0, "m", 100.0) is True
    assert await fleet_b.claim_probe(b, 0, "m", 100.0) is False
    b.release(0, "m")
    until = b.cooling_until(0, "m", 100.0)
    assert until is not None and until >= 100.0 + CooldownPolicy().probe_hold
    assert not a.holds_probe(0, "other", 100.0)


async def test_a_keys_slots_are_the_fleets() -> None:
    shared = LocalState()
    a, b = pools(max_concurrent=1)
    fleet_a, fleet_b = FleetKeys("p", shared), FleetKeys("p", shared)
    assert await fleet_a.take_slot(a, 0) is True
    assert await fleet_b.take_slot(b, 0) is False  # the fleet's one slot of key 0 is out
    assert await fleet_b.take_slot(b, 1) is True
    await fleet_a.give_slot(a, 0)
    assert await fleet_b.take_slot(b, 0) is True
    await trio.lowlevel.checkpoint()
    assert isinstance(a.acquire("m", 0.0), int)
    assert not isinstance(a.acquire("m", 0.0), Busy)  # local caps stay per pool


async def test_an_exhausted_upstream_window_keeps_the_fleet_off_the_key() -> None:
    shared = LocalState()
    tracker = RateLimitTracker.for_keys(RateLimitBook(), ["k#1"])
    tracker.shared, tracker.provider = shared, "p"
    window = WindowState("requests", "requests", "minute", 100, 0, 20.0)
    still = WindowState("tokens", "tokens", "minute", 1000, 500, 30.0)
    message = Observe("k#1", "m", (window, still), None, None)
    await tracker.handle(message, now=0.0)
    cooled = await shared.cooling("p/", time.time())
    assert list(cooled) == [("p/k#1", "m")]
    assert 18.0 < cooled["p/k#1", "m"].until - time.time() <= 20.0  # the window's reset
    await tracker.handle(Observe("k#1", "m2", (still,), None, None), now=0.0)
    assert ("p/k#1", "m2") not in await shared.cooling("p/", time.time())


async def test_an_admit_nobody_waits_for_takes_nothing_from_the_fleet() -> None:
    shared = LocalState()
    book = RateLimitBook(RateLimits(limits=Limits(rpm=1)))
    tracker = RateLimitTracker.for_keys(book, ["k#1"])
    tracker.shared, tracker.provider = shared, "p"
    send, receive = trio.open_memory_channel[object](1)
    receive.close()  # the requester gave up before the tracker got to it
    await tracker.handle(Admit("k#1", "m", 10, float("inf"), send), now=0.0)
    scope, windows = book.fleet_windows("k#1", "m", time.time()) or ("", ())
    assert await shared.take("p/" + scope, windows, 10, time.time()) is None  # still room


async def _admit(tracker: RateLimitTracker, deadline: float = float("inf")) -> object:
    send, receive = trio.open_memory_channel[object](1)
    await tracker.handle(Admit("k#1", "m", 10, deadline, send), now=0.0)
    return receive.receive_nowait()


async def test_what_one_instance_reads_of_the_upstreams_count_paces_the_fleet() -> None:
    """Instance A reads "2 requests left for 30 s" on a reply; instance B, which never saw
    that reply, spends the same two and then holds back until the reset (no limits are
    configured: the upstream's headers are all either instance knows)."""
    shared = LocalState()
    a = RateLimitTracker(RateLimitBook(), ("k#1",), shared, "p")
    b = RateLimitTracker(RateLimitBook(), ("k#1",), shared, "p")
    left = WindowState("requests", "requests", "minute", 100, 2, 30.0)
    await a.handle(Observe("k#1", "m", (left,), None, None), now=0.0)
    assert isinstance(await _admit(b), Reservation)
    assert isinstance(await _admit(b), Reservation)
    refused = await _admit(b, deadline=5.0)  # the upstream's count is spent, fleet-wide
    assert isinstance(refused, Skip) and refused.window == "fleet window"
    assert refused.until is not None and 28.0 < refused.until <= 30.0
    waits = await _admit(b)  # a caller that can wait is told until when
    assert isinstance(waits, WaitUntil) and 28.0 < waits.at <= 30.0
    # a later reply's count replaces it (here: the upstream's window reset early)
    fresh = WindowState("requests", "requests", "minute", 100, 50, 30.0)
    await b.handle(Observe("k#1", "m", (fresh,), None, None), now=0.0)
    assert isinstance(await _admit(a), Reservation)


async def test_a_keys_ladder_and_lockout_are_the_fleets() -> None:
    """Instance a's key fails twice (10 s, then 30 s); b learns the cooldown at strike 2, so its
    own next failure of the key rests it 60 s (the third rung), not 10 s (the first). Rate
    limits on three models lock the key out on a, and b keeps off it for every model."""
    shared = LocalState()
    a, b = pools()
    fleet_a, fleet_b = FleetKeys("p", shared), FleetKeys("p", shared)
    limited = UpstreamFailure(FailureClass.RATE_LIMIT, "slow down", status=429)
    for now in (0.0, 20.0):  # the first rests 10 s; at 20 the key is half-open, then fails
        a.record_failure(0, "m", limited, now)
        await fleet_a.share_cooldown(a, 0, "m", limited, now)
    await fleet_b.impose_cooldowns(b, 20.0)
    assert b.cooling_until(0, "m", 20.0) == pytest.approx(50.0, abs=0.5)  # a's rung 2: 30 s
    b.record_failure(0, "m", limited, 60.0)  # after it ended, b's own failure of the key
    assert b.cooling_until(0, "m", 60.0) == 120.0  # the third rung: 60 s
    await fleet_b.share_cooldown(b, 0, "m", limited, 60.0)
    cooled = await shared.cooling("p/", time.time())
    assert cooled["p/k#1", "m"].strikes == 3

    for model in ("x", "y", "z"):  # three models limited within the lockout window
        a.record_failure(1, model, limited, 100.0)
        await fleet_a.share_cooldown(a, 1, model, limited, 100.0)
    assert a.cooling_until(1, "other", 100.0) == 700.0  # locked out for 600 s
    await fleet_b.impose_cooldowns(b, 100.0)
    until = b.cooling_until(1, "other", 100.0)
    assert until is not None and 699.0 < until <= 700.0
    assert b.view().cooling(100.0)[-1][4] == "lockout"  # as a lockout, not an auth failure


async def test_a_reset_past_two_days_stays_with_the_instance_that_read_it() -> None:
    """A header saying a window resets in years is broken or hostile: the fleet is not told
    (no shared cap, no shared cooldown); the reading instance's own book still holds it."""
    shared = LocalState()
    tracker = RateLimitTracker(RateLimitBook(), ("k#1",), shared, "p")
    absurd = (
        WindowState("requests", "requests", "minute", 100, 0, 1e9),
        WindowState("tokens", "tokens", "minute", 100, 5, 1e9),
    )
    await tracker.handle(Observe("k#1", "m", absurd, None, None), now=0.0)
    assert await shared.cooling("p/", time.time()) == {}
    assert shared.caps == {}
    assert isinstance(await _admit(tracker, deadline=5.0), Skip)  # its own book holds it
