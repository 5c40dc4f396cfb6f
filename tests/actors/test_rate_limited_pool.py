"""The credential pool with a rate-limit tracker: keys without headroom are passed over, a call
that may wait queues first come first served, and no key ever sends more than its limit."""

from collections import Counter

import trio
import trio.testing

from actors.credentials import CredentialPool
from actors.keypool import KeyPool
from actors.messages import KeyLease, NoKey
from actors.ratelimit import RateLimitTracker
from actors.ratelimit_book import RateLimitBook
from config.model import Credential, Limits, RateLimits
from protocols.ratelimit_headers import WindowState
from protocols.usage import Usage

KEYS = (Credential("a", "secret-a"), Credential("b", "secret-b"))


def pool_over(book: RateLimitBook, keys: tuple[Credential, ...] = KEYS) -> CredentialPool:
    tracker = RateLimitTracker.for_keys(book, (key.alias for key in keys))
    return CredentialPool(KeyPool(keys), tracker)


def limited_pool(rpm: int, keys: tuple[Credential, ...] = KEYS) -> CredentialPool:
    return pool_over(RateLimitBook(RateLimits(Limits(rpm=rpm))), keys)


async def start_actors(nursery: trio.Nursery, pool: CredentialPool) -> None:
    """The pool and its tracker, each an actor of its own."""
    assert pool.tracker is not None
    await nursery.start(pool.tracker.run)
    await nursery.start(pool.run)


def book_of(pool: CredentialPool) -> RateLimitBook:
    assert pool.tracker is not None
    return pool.tracker.book


def most_in_any_minute(times: list[float]) -> int:
    times = sorted(times)
    return max((sum(1 for t in times if start <= t < start + 60) for start in times), default=0)


async def test_a_key_without_room_is_passed_over_for_one_with_it(
    autojump_clock: trio.abc.Clock,
) -> None:
    pool = limited_pool(rpm=2)
    async with trio.open_nursery() as nursery:
        await start_actors(nursery, pool)
        aliases = []
        for _ in range(4):
            lease = await pool.lease("m")
            assert isinstance(lease, KeyLease)
            aliases.append(lease.credential.alias)
            await pool.release(lease, "m")
        assert Counter(aliases) == {"a": 2, "b": 2}
        refused = await pool.lease("m")
        assert isinstance(refused, NoKey) and refused.for_room
        assert refused.until is not None and 60 <= refused.until - trio.current_time() <= 61
        nursery.cancel_scope.cancel()


async def test_offered_load_never_exceeds_rpm_per_key_and_waiters_go_in_order(
    autojump_clock: trio.abc.Clock,
) -> None:
    """The issue's acceptance at the pool: rpm 60, two keys, 200 calls offered in 10 s that
    may wait (their deadline is far): each key sends at most 60 in any rolling minute, and the
    calls that waited are served in the order they arrived (none before an earlier one)."""
    pool = limited_pool(rpm=60)
    sent: dict[str, list[float]] = {"a": [], "b": []}
    served_at: dict[int, float] = {}
    start = trio.current_time()
    with trio.fail_after(600):
        async with trio.open_nursery() as nursery:
            await start_actors(nursery, pool)

            async def call(number: int) -> None:
                lease = await pool.lease("m", deadline=start + 300, wait_for_room=True)
                assert isinstance(lease, KeyLease), lease
                sent[lease.credential.alias].append(trio.current_time())
                served_at[number] = trio.current_time()
                await pool.release(lease, "m")

            async with trio.open_nursery() as calls:
                for number in range(200):
                    calls.start_soon(call, number)
                    await trio.sleep(10 / 200)
            nursery.cancel_scope.cancel()
    assert len(sent["a"]) + len(sent["b"]) == 200
    assert most_in_any_minute(sent["a"]) <= 60 and most_in_any_minute(sent["b"]) <= 60
    in_arrival_order = [served_at[number] for number in range(200)]
    assert in_arrival_order == sorted(in_arrival_order)  # first come, first served
    assert max(sent["a"] + sent["b"]) - start < 190  # the last waited about two minutes


async def test_a_call_that_may_not_wait_past_its_deadline_is_told_when_instead(
    autojump_clock: trio.abc.Clock,
) -> None:
    pool = limited_pool(rpm=1, keys=KEYS[:1])
    async with trio.open_nursery() as nursery:
        await start_actors(nursery, pool)
        lease = await pool.lease("m")
        assert isinstance(lease, KeyLease)
        await pool.release(lease, "m")
        answer = await pool.lease("m", deadline=trio.current_time() + 5, wait_for_room=True)
        assert isinstance(answer, NoKey) and answer.for_room  # a window holds it back...
        assert answer.until is not None and answer.until - trio.current_time() >= 59  # > 5 s
        nursery.cancel_scope.cancel()


async def test_the_upstreams_own_headers_hold_a_key_back(
    autojump_clock: trio.abc.Clock,
) -> None:
    pool = pool_over(RateLimitBook(), KEYS[:1])
    async with trio.open_nursery() as nursery:
        await start_actors(nursery, pool)
        lease = await pool.lease("m")
        assert isinstance(lease, KeyLease)
        exhausted = WindowState(
            window="requests", kind="requests", period=None, limit=30, remaining=0, reset=12.0
        )
        await pool.release(lease, "m", windows=(exhausted,))
        refused = await pool.lease("m")
        assert isinstance(refused, NoKey) and refused.for_room
        assert refused.until == trio.current_time() + 12
        await trio.sleep(12)
        assert isinstance(await pool.lease("m"), KeyLease)
        nursery.cancel_scope.cancel()


async def test_a_probe_never_takes_a_key_without_room() -> None:
    pool = limited_pool(rpm=1, keys=KEYS[:1])
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await start_actors(nursery, pool)
            lease = await pool.lease_now("m")
            assert isinstance(lease, KeyLease)
            await pool.release(lease, "m")
            assert await pool.lease_now("m") is None
            nursery.cancel_scope.cancel()


async def test_the_reported_usage_replaces_the_estimate_in_the_token_windows(
    autojump_clock: trio.abc.Clock,
) -> None:
    book = RateLimitBook(RateLimits(limits=Limits(tpm=1000)))
    pool = pool_over(book, KEYS[:1])
    async with trio.open_nursery() as nursery:
        await start_actors(nursery, pool)
        lease = await pool.lease("m", tokens=10)
        assert isinstance(lease, KeyLease)
        assert book.used("a", "m", trio.current_time()).tokens_minute == 10  # the estimate
        await pool.release(lease, "m", usage=Usage(input=300, output=450))
        await trio.testing.wait_all_tasks_blocked()  # the tracker has taken the settle in
        assert book.used("a", "m", trio.current_time()).tokens_minute == 750
        nursery.cancel_scope.cancel()


async def test_a_caller_that_stopped_waiting_for_room_is_not_counted_when_room_comes(
    autojump_clock: trio.abc.Clock,
) -> None:
    pool = limited_pool(rpm=1, keys=KEYS[:1])
    async with trio.open_nursery() as nursery:
        await start_actors(nursery, pool)
        first = await pool.lease("m")
        assert isinstance(first, KeyLease)
        await pool.release(first, "m")
        with trio.move_on_after(5):  # gives up long before the minute is over
            await pool.lease("m", deadline=trio.current_time() + 120, wait_for_room=True)
        await trio.sleep(60)  # room again: nobody is waiting for it any more
        await trio.testing.wait_all_tasks_blocked()
        assert book_of(pool).used("a", "m", trio.current_time()).requests_minute == 0
        assert isinstance(await pool.lease("m"), KeyLease)  # the room is there to be had
        nursery.cancel_scope.cancel()
