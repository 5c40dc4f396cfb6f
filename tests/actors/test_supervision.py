"""Fault injection, actor by actor: a bug put into an actor's loop crashes it, its supervisor
restarts it with backoff, it keeps its bookkeeping (cooldowns, windows, health), and whoever
was waiting on it is told so (never left hanging)."""

from functools import partial
from itertools import pairwise
from typing import Any

import pytest
import trio
import trio.testing
import yaml

from actors.credentials import CredentialPool
from actors.health import HealthChecker
from actors.health_book import Health, HealthBook
from actors.keypool import KeyPool
from actors.messages import Call, Failed, KeyLease, LeaseNow, NoKey
from actors.ratelimit import RateLimitTracker
from actors.ratelimit_book import RateLimitBook
from actors.routing import Router
from actors.store import ResponseStore, StoreError
from actors.store.responses import Get
from actors.supervision import ActorUnavailable, Backoff, supervise
from actors.supervisor import INBOX_SIZE, Supervisor
from config import Credential, Limits, RateLimits, load_text
from protocols.chat import ChatRequest
from protocols.errors import GatewayOverloaded
from protocols.failures import FailureClass, UpstreamFailure

KEYS = (Credential("a", "secret-a"), Credential("b", "secret-b"))


class Bug(Exception):
    """What the injected faults raise."""


def rate(retry_after: float) -> UpstreamFailure:
    return UpstreamFailure(FailureClass.RATE_LIMIT, "slow", status=429, retry_after=retry_after)


def crash_once(monkeypatch: pytest.MonkeyPatch, cls: type, name: str, when: Any) -> list[int]:
    """Make `cls.name` raise `Bug` the first time `when(*args)` holds; the list counts crashes."""
    crashes: list[int] = []
    original = getattr(cls, name)

    def faulty(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not crashes and when(*args):
            crashes.append(1)
            raise Bug(f"injected into {cls.__name__}.{name}")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, name, faulty)
    return crashes


async def test_a_crashing_actor_is_restarted_with_doubling_backoff(
    autojump_clock: trio.abc.Clock,
) -> None:
    runs: list[float] = []

    async def run(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        runs.append(trio.current_time())
        task_status.started()
        if len(runs) <= 7:
            raise Bug("again")
        await trio.sleep_forever()

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            await nursery.start(partial(supervise, "flaky", run))
            await trio.sleep(30)
            nursery.cancel_scope.cancel()
    gaps = [round(b - a, 3) for a, b in pairwise(runs)]
    assert gaps == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0]


async def test_a_quiet_run_starts_the_backoff_afresh(autojump_clock: trio.abc.Clock) -> None:
    runs: list[float] = []

    async def run(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        runs.append(trio.current_time())
        task_status.started()
        if len(runs) == 3:
            await trio.sleep(40)  # longer than `quiet`
        if len(runs) <= 4:
            raise Bug("again")
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        await nursery.start(partial(supervise, "flaky", run, backoff=Backoff(quiet=30)))
        await trio.sleep(60)
        nursery.cancel_scope.cancel()
    assert [round(b - a, 3) for a, b in pairwise(runs)] == [0.1, 0.2, 40.1, 0.2]


async def test_a_crash_before_the_first_start_is_raised_to_the_starter() -> None:
    async def run(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await trio.lowlevel.checkpoint()
        raise Bug("no data directory")

    with trio.fail_after(5), pytest.raises(BaseExceptionGroup) as caught:
        async with trio.open_nursery() as nursery:
            await nursery.start(partial(supervise, "broken", run))
    assert caught.group_contains(Bug, depth=None)


async def test_a_pool_that_crashes_fails_its_waiters_and_keeps_its_cooldowns(
    autojump_clock: trio.abc.Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = CredentialPool(KeyPool(KEYS, max_concurrent=1))
    crashes = crash_once(
        monkeypatch, CredentialPool, "_handle", lambda message: isinstance(message, LeaseNow)
    )
    outcomes: list[object] = []

    async def waiter() -> None:
        try:
            outcomes.append(await pool.lease("m"))
        except ActorUnavailable:
            outcomes.append("unavailable")

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            await nursery.start(partial(supervise, "pool", pool.run))
            lease = await pool.lease("m")
            assert isinstance(lease, KeyLease) and lease.index == 0
            await pool.release(lease, "m", rate(7))  # key a cools until 7
            held = await pool.lease("m")  # key b, at its cap now
            assert isinstance(held, KeyLease) and held.index == 1
            nursery.start_soon(waiter)
            await trio.testing.wait_all_tasks_blocked()
            assert outcomes == []  # queued behind the cap
            with pytest.raises(ActorUnavailable):
                await pool.lease_now("m")  # the injected bug: the pool crashes on it
            await trio.testing.wait_all_tasks_blocked()
            assert crashes == [1] and outcomes == ["unavailable"]  # told, not left hanging
            await pool.release(held, "m")  # sent while the pool is down: the next run serves it
            await trio.sleep(0.1)
            await trio.testing.wait_all_tasks_blocked()
            assert pool.view.in_flight == (0, 0)
            assert pool.view.cooling(trio.current_time()) == [
                (0, "model m", pytest.approx(7 - 0.1), 1, "rate_limit")  # not forgotten
            ]
            assert await pool.lease("m", frozenset({1})) == NoKey(7.0)
            nursery.cancel_scope.cancel()


async def test_a_tracker_that_crashes_fails_the_lease_over_and_keeps_its_windows(
    autojump_clock: trio.abc.Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = RateLimitBook(RateLimits(Limits(rpm=1)))
    tracker = RateLimitTracker.for_keys(book, ["a"])
    pool = CredentialPool(KeyPool(KEYS[:1]), tracker)
    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            await nursery.start(partial(supervise, "tracker", tracker.run))
            await nursery.start(partial(supervise, "pool", pool.run))
            lease = await pool.lease("m")
            assert isinstance(lease, KeyLease) and lease.reservation is not None
            await pool.release(lease, "m")
            crashes = crash_once(monkeypatch, RateLimitTracker, "handle", lambda m, now: True)
            with pytest.raises(ActorUnavailable):  # the walk skips the target as failed
                await pool.lease("m")
            assert crashes == [1]
            await trio.testing.wait_all_tasks_blocked()
            assert pool.view.in_flight == (0,)  # the key the tracker never judged is back
            refused = await pool.lease("m")  # served by the restarted tracker...
            assert isinstance(refused, NoKey) and refused.for_room  # ...which kept the minute
            await trio.sleep(60)
            assert isinstance(await pool.lease("m"), KeyLease)
            nursery.cancel_scope.cancel()


def health_config() -> Any:
    document = {
        "health": "off",
        "providers": {"a": {"base_url": "http://127.0.0.1:9/v1", "keys": ["k"], "models": ["m"]}},
    }
    return load_text(yaml.safe_dump(document), env={}).config


async def test_a_health_checker_that_crashes_keeps_what_it_had_heard(
    autojump_clock: trio.abc.Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    checker = HealthChecker(health_config(), {})
    server = FailureClass.SERVER
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            await nursery.start(partial(supervise, "health checker", checker.run))
            checker.observe_call("a", server, None)
            await trio.testing.wait_all_tasks_blocked()
            assert checker.view.state("a", trio.current_time()) is Health.DEGRADED
            crashes = crash_once(monkeypatch, HealthBook, "observe_call", lambda *args: True)
            checker.observe_call("a", server, None)  # the injected bug: lost with the crash
            await trio.testing.wait_all_tasks_blocked()
            assert crashes == [1]
            await trio.sleep(0.1)  # restarted
            checker.observe_call("a", server, None)
            checker.observe_call("a", server, None)
            await trio.testing.wait_all_tasks_blocked()
            # three failures in a row, one of them from before the crash: down
            assert checker.view.state("a", trio.current_time()) is Health.DOWN
            nursery.cancel_scope.cancel()


async def test_a_full_supervisor_inbox_is_answered_503_not_queued() -> None:
    config = health_config()
    supervisor = Supervisor(Router(config), {}, {})  # not running: nothing drains its inbox
    request = ChatRequest.from_payload(
        {"model": "m", "messages": [{"role": "user", "content": ""}]}
    )
    replies = []
    for _ in range(INBOX_SIZE + 1):
        send, receive = trio.open_memory_channel[object](1)
        supervisor.submit(Call(request, trio.current_time() + 10, send))
        replies.append(receive)
    with trio.fail_after(5):
        refused = await replies[-1].receive()
    assert isinstance(refused, Failed) and isinstance(refused.error, GatewayOverloaded)
    assert refused.error.status == 503 and refused.error.code == "gateway_overloaded"
    assert replies[0].statistics().current_buffer_used == 0  # the others wait their turn


async def test_a_response_store_that_crashes_keeps_what_it_stored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = ResponseStore.open(None)  # in memory: a restart must not open a fresh database
    stored = {"id": "resp_1", "object": "response", "status": "completed", "output": []}
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(partial(supervise, "response store", store.run))
            await store.put(stored, [])
            crashes = crash_once(
                monkeypatch, ResponseStore, "_serve", lambda message: isinstance(message, Get)
            )
            with pytest.raises(StoreError):  # the injected bug: answered, not left hanging
                await store.get("resp_1")
            assert crashes == [1]
            await trio.sleep(0.2)  # restarted after 0.1 s
            found = await store.get("resp_1")
            assert found is not None and found.response["id"] == "resp_1"
            nursery.cancel_scope.cancel()
