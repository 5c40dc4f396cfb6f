import trio
import trio.testing

from actors.credentials import CredentialPool
from actors.keypool import KeyPool
from actors.messages import KeyLease, NoKey
from config.model import Credential
from protocols.failures import FailureClass, UpstreamFailure

KEYS = (Credential("a", "secret-a"), Credential("b", "secret-b"))


def rate(retry_after: float) -> UpstreamFailure:
    return UpstreamFailure(FailureClass.RATE_LIMIT, "slow", status=429, retry_after=retry_after)


async def test_a_cooled_key_is_not_leased_until_its_retry_after(
    autojump_clock: trio.abc.Clock,
) -> None:
    pool = CredentialPool(KeyPool(KEYS[:1]))
    async with trio.open_nursery() as nursery:
        await nursery.start(pool.run)
        lease = await pool.lease("m")
        assert isinstance(lease, KeyLease) and lease.credential.alias == "a"
        await pool.release(lease, "m", rate(7))
        assert await pool.lease("m") == NoKey(trio.current_time() + 7)
        await trio.sleep(7)
        assert isinstance(await pool.lease("m"), KeyLease)
        nursery.cancel_scope.cancel()


async def test_busy_keys_queue_requests_first_come_first_served(
    autojump_clock: trio.abc.Clock,
) -> None:
    pool = CredentialPool(KeyPool(KEYS[:1], max_concurrent=1))
    order: list[str] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(pool.run)
        held = await pool.lease("m")
        assert isinstance(held, KeyLease)

        async def waiter(name: str) -> None:
            lease = await pool.lease("m")
            assert isinstance(lease, KeyLease)
            order.append(name)
            await trio.sleep(1)
            await pool.release(lease, "m")

        for name in ("first", "second", "third"):
            nursery.start_soon(waiter, name)
            await trio.testing.wait_all_tasks_blocked()
        assert order == []
        start = trio.current_time()
        await pool.release(held, "m")
        await trio.sleep(5)
        assert order == ["first", "second", "third"]
        assert trio.current_time() - start == 5
        nursery.cancel_scope.cancel()


async def test_a_waiter_is_served_when_a_cooldown_ends(autojump_clock: trio.abc.Clock) -> None:
    pool = CredentialPool(KeyPool(KEYS, max_concurrent=1))
    async with trio.open_nursery() as nursery:
        await nursery.start(pool.run)
        first = await pool.lease("m")
        second = await pool.lease("m")
        assert isinstance(first, KeyLease) and isinstance(second, KeyLease)
        await pool.release(first, "m", rate(3))  # key a cools for 3 s; key b stays busy
        start = trio.current_time()
        lease = await pool.lease("m")
        assert isinstance(lease, KeyLease) and lease.credential.alias == "a"
        assert trio.current_time() - start == 3
        nursery.cancel_scope.cancel()


async def test_a_requester_that_gives_up_does_not_leak_its_key(
    autojump_clock: trio.abc.Clock,
) -> None:
    pool = CredentialPool(KeyPool(KEYS[:1], max_concurrent=1))
    async with trio.open_nursery() as nursery:
        await nursery.start(pool.run)
        held = await pool.lease("m")
        assert isinstance(held, KeyLease)
        with trio.move_on_after(1):
            await pool.lease("m")  # gives up while queued
        await pool.release(held, "m")
        await trio.testing.wait_all_tasks_blocked()
        with trio.fail_after(1):
            assert isinstance(await pool.lease("m"), KeyLease)
        nursery.cancel_scope.cancel()


async def test_a_lease_in_a_cancelled_scope_raises_and_takes_no_key() -> None:
    # one key that serves one call at a time: had the cancelled request been handed the key,
    # the next lease would wait for it for ever
    pool = CredentialPool(KeyPool(KEYS[:1], max_concurrent=1))
    handed: list[KeyLease | NoKey] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(pool.run)
        with trio.CancelScope() as scope:
            scope.cancel()
            handed.append(await pool.lease("m"))
        assert scope.cancelled_caught and handed == []
        await trio.testing.wait_all_tasks_blocked()
        with trio.fail_after(1):
            lease = await pool.lease("m")
        assert isinstance(lease, KeyLease) and lease.credential.alias == "a"
        nursery.cancel_scope.cancel()
