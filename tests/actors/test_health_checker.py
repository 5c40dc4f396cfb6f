"""The health checker against simulated upstreams that really speak HTTP, in virtual time.

The clock jumps only after 20 ms of real idleness (not at once, as `autojump_clock` does), so
a probe's bytes on the loopback arrive before the clock can run past its timeout.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import pytest
import trio
import yaml
from trio.testing import MockClock

from actors.credentials import CredentialPool
from actors.health import HealthChecker, ProbePlan
from actors.health_book import Health
from actors.keypool import KeyPool
from actors.messages import KeyLease, NoKey
from actors.ratelimit import RateLimitTracker
from actors.ratelimit_book import RateLimitBook
from actors.routing import Router, effective_chain
from config import Config, Credential, load_text
from edge.simulator import Complete, Error, Hang, Simulator, always, by_key, sequence
from protocols.failures import FailureClass, UpstreamFailure
from protocols.ratelimit_headers import WindowState

T0 = 0.0  # MockClock starts at 0


@pytest.fixture
def clock() -> MockClock:
    return MockClock(autojump_threshold=0.02)


def config_for(
    sims: dict[str, Simulator], health: dict[str, Any] | None = None, **providers: Any
) -> Config:
    document: dict[str, Any] = {
        "health": {"interval": 10, "timeout": 2, **(health or {})},
        "providers": {
            name: {
                "base_url": sim.base_url,
                "keys": [f"{name}-key"],
                "models": ["m"],
                **providers.get(name, {}),
            }
            for name, sim in sims.items()
        },
        "virtual_models": {"fast": {"chain": [f"{name}/m" for name in sims]}},
    }
    return load_text(yaml.safe_dump(document), env={}).config


def pools_for(config: Config) -> dict[str, CredentialPool]:
    return {
        name: CredentialPool(
            KeyPool.for_provider(p),
            RateLimitTracker.for_keys(RateLimitBook.for_provider(p), (k.alias for k in p.keys)),
        )
        for name, p in config.providers.items()
    }


@attrs.define
class Rig:
    config: Config
    pools: dict[str, CredentialPool]
    checker: HealthChecker

    def order(self) -> list[str]:
        chain = effective_chain(Router(self.config), self.checker.book, "fast", trio.current_time())
        assert chain is not None
        return [target.provider for target in chain]


@asynccontextmanager
async def rig(
    sims: dict[str, Simulator], health: dict[str, Any] | None = None, **providers: Any
) -> AsyncIterator[Rig]:
    async with trio.open_nursery() as nursery:
        for sim in sims.values():
            await nursery.start(sim.serve)
        config = config_for(sims, health, **providers)
        pools = pools_for(config)
        for pool in pools.values():
            assert pool.tracker is not None
            await nursery.start(pool.tracker.run)
            await nursery.start(pool.run)
        checker = HealthChecker(config, pools)
        await nursery.start(checker.run)
        yield Rig(config, pools, checker)
        nursery.cancel_scope.cancel()


async def sleep_until(at: float) -> None:
    await trio.sleep_until(T0 + at)
    await trio.testing.wait_all_tasks_blocked()


async def test_probes_go_out_on_the_interval_with_the_providers_key(clock: MockClock) -> None:
    seen: list[tuple[float, str | None, str]] = []

    def probe(request: Any) -> Complete:
        seen.append((trio.current_time(), request.api_key, request.path))
        return Complete()

    sims = {"a": Simulator(name="a", probe_script=probe)}
    with trio.fail_after(120):
        async with rig(sims) as r:
            await sleep_until(9.9)
            assert sims["a"].probes == 0  # nothing at start: a restart costs no quota
            await sleep_until(35)
            assert [(round(at, 1), key, path) for at, key, path in seen] == [
                (10.0, "a-key", "/v1/models"),
                (20.0, "a-key", "/v1/models"),
                (30.0, "a-key", "/v1/models"),
            ]
            assert r.checker.book.state("a", trio.current_time()) is Health.UP
            latency = r.checker.book.latency("a")
            assert latency is not None and latency < 0.1
            assert r.checker.probes_sent == 3


async def test_a_down_provider_goes_last_and_comes_back_when_it_recovers(
    clock: MockClock,
) -> None:
    sims = {
        "a": Simulator(name="a", probe_script=sequence(Error(503), Error(503), then=Complete())),
        "b": Simulator(name="b"),
    }
    with trio.fail_after(120):
        async with rig(sims) as r:
            assert r.order() == ["a", "b"]
            await sleep_until(11)
            assert r.checker.book.state("a", trio.current_time()) is Health.DOWN
            assert r.order() == ["b", "a"]
            await sleep_until(21)
            assert r.order() == ["b", "a"]
            await sleep_until(31)  # the third probe succeeds
            assert r.checker.book.state("a", trio.current_time()) is Health.DEGRADED
            assert r.order() == ["a", "b"]


async def test_a_probe_that_times_out_marks_the_provider_down(clock: MockClock) -> None:
    sims = {"a": Simulator(name="a", probe_script=always(Hang())), "b": Simulator(name="b")}
    with trio.fail_after(120):
        async with rig(sims) as r:
            await sleep_until(11.9)
            assert r.order() == ["a", "b"]  # the probe sent at 10 is still out
            await sleep_until(12.1)
            assert r.checker.book.state("a", trio.current_time()) is Health.DOWN
            assert r.order() == ["b", "a"]
            await sims["a"].wait_for_disconnects(1)  # the probe was given up, its socket closed


async def test_probes_are_skipped_while_the_only_key_is_cooling(clock: MockClock) -> None:
    sims = {"a": Simulator(name="a")}
    with trio.fail_after(120):
        async with rig(sims) as r:
            pool = r.pools["a"]
            lease = await pool.lease_now("m")
            assert isinstance(lease, KeyLease)
            limited = UpstreamFailure(FailureClass.RATE_LIMIT, "slow down", 429, retry_after=25)
            await pool.release(lease, "m", limited)  # a real call was limited: cooling until 25
            await sleep_until(21)
            assert sims["a"].probes == 0
            assert r.checker.rounds_skipped == 2
            assert r.checker.book.state("a", trio.current_time()) is Health.UNKNOWN
            await sleep_until(31)
            assert sims["a"].probes == 1
            assert r.checker.book.state("a", trio.current_time()) is Health.UP


async def test_a_429_on_a_probe_cools_the_key_like_a_real_call(clock: MockClock) -> None:
    sims = {"a": Simulator(name="a", probe_script=always(Error.rate_limited(retry_after=25)))}
    with trio.fail_after(120):
        async with rig(sims) as r:
            await sleep_until(10.5)
            assert sims["a"].probes == 1
            keys = r.pools["a"].pool
            cooling = keys.cooling_until(0, "m", trio.current_time())
            assert cooling is not None and cooling == pytest.approx(35.0, abs=0.1)
            # a rate limit is the key's business, not the provider's
            assert r.checker.book.state("a", trio.current_time()) is Health.UNKNOWN
            await sleep_until(40.5)
            assert sims["a"].probes == 2  # 20 and 30 skipped, 40 sent
            assert r.checker.rounds_skipped == 2


async def test_a_401_on_a_probe_locks_the_key_out(clock: MockClock) -> None:
    sims = {"a": Simulator(name="a", probe_script=by_key({"right-key": Complete()}))}
    with trio.fail_after(120):
        async with rig(sims) as r:
            await sleep_until(10.5)
            keys = r.pools["a"].pool
            assert keys.cooling_until(0, "other-model", trio.current_time()) is not None
            assert await r.pools["a"].lease_now("m") is None


async def test_real_traffic_makes_a_probe_needless(clock: MockClock) -> None:
    sims = {"a": Simulator(name="a")}
    with trio.fail_after(120):
        async with rig(sims) as r:
            await sleep_until(5)
            r.checker.observe_call("a", None, 0.3)  # told, as the walk tells it
            await sleep_until(21)
            assert sims["a"].probes == 1  # 10 skipped (a call 5 s before), 20 sent
            assert r.checker.rounds_skipped == 1


async def test_completion_probes_ask_the_first_model_for_one_token(clock: MockClock) -> None:
    sims = {"a": Simulator(name="a")}
    provider = {"models": ["first", "m"], "health": {"probe": "completion"}}
    with trio.fail_after(120):
        async with rig(sims, a=provider) as r:
            await sleep_until(10.5)
            assert sims["a"].probes == 0
            [call] = sims["a"].calls
            assert call.path == "/v1/chat/completions"
            assert call.api_key == "a-key"
            assert call.json == {
                "model": "first",
                "messages": [{"role": "user", "content": "ping"}],
                "max_tokens": 1,
            }
            assert r.checker.book.state("a", trio.current_time()) is Health.UP


async def test_probe_intervals_per_provider_and_off(clock: MockClock) -> None:
    sims = {"a": Simulator(name="a"), "b": Simulator(name="b"), "c": Simulator(name="c")}
    with trio.fail_after(120):
        async with rig(sims, b={"health": {"interval": 4}}, c={"health": "off"}) as r:
            assert [plan.provider for plan in r.checker.plans()] == ["a", "b"]
            await sleep_until(10.5)
            assert (sims["a"].probes, sims["b"].probes, sims["c"].probes) == (1, 2, 0)


def test_a_provider_listing_no_model_is_probed_with_get_models() -> None:
    sim = Simulator(name="a")
    sim._port = 1  # never served: only the plan is looked at
    config = config_for({"a": sim}, {"probe": "completion"}, a={"models": ["*"]})
    assert ProbePlan.for_provider(config, "a") == ProbePlan("a", 10.0, 2.0, "models", None)
    assert ProbePlan.for_provider(config, "a").lease_model == "*"  # type: ignore[union-attr]


async def test_a_probe_counts_against_the_keys_windows(clock: MockClock) -> None:
    """rpm 1: the probe at 10 takes the minute's one request; no call or probe has room until
    a minute later."""
    sims = {"a": Simulator(name="a")}
    with trio.fail_after(120):
        async with rig(sims, a={"limits": {"rpm": 1}}) as r:
            await sleep_until(10.5)
            assert sims["a"].probes == 1
            refused = await r.pools["a"].lease("m")
            assert isinstance(refused, NoKey) and refused.for_room
            await sleep_until(60.5)
            assert sims["a"].probes == 1
            assert r.checker.rounds_skipped == 5  # 20, 30, 40, 50, 60
            await sleep_until(80.5)
            assert sims["a"].probes == 2  # the minute since the first one is over


@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors_on_probes_mark_down(clock: MockClock, status: int) -> None:
    sims = {"a": Simulator(name="a", probe_script=always(Error(status)))}
    with trio.fail_after(120):
        async with rig(sims) as r:
            await sleep_until(10.5)
            assert r.checker.book.state("a", trio.current_time()) is Health.DOWN


# -- against a fake pool: exactly what the checker asks of a credential pool -------------------


@attrs.define
class FakePool:
    """`lease_now` and `release` as `CredentialPool` has them, recorded."""

    free: bool = True
    leased: list[str] = attrs.field(factory=list)
    released: list[tuple[str, FailureClass | None, bool, tuple[WindowState, ...]]] = attrs.field(
        factory=list
    )

    async def lease_now(self, model: str) -> KeyLease | None:
        await trio.lowlevel.checkpoint()
        self.leased.append(model)
        return KeyLease(0, Credential("a-key", "secret-a")) if self.free else None

    async def release(
        self,
        lease: KeyLease,
        model: str,
        failure: UpstreamFailure | None = None,
        *,
        served: bool = True,
        windows: tuple[WindowState, ...] = (),
    ) -> None:
        await trio.lowlevel.cancel_shielded_checkpoint()
        self.released.append((model, failure.failure if failure else None, served, windows))


async def test_the_pool_hears_every_probe_with_its_windows(clock: MockClock) -> None:
    headers = {
        "x-ratelimit-limit-requests": "30",
        "x-ratelimit-remaining-requests": "29",
        "x-ratelimit-reset-requests": "2s",
    }
    sim = Simulator(name="a", probe_script=sequence(Complete(headers=headers), Error(502)))
    pool = FakePool()
    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            await nursery.start(sim.serve)
            checker = HealthChecker(config_for({"a": sim}), {"a": pool})
            await nursery.start(checker.run)
            await sleep_until(20.5)
            nursery.cancel_scope.cancel()
    assert pool.leased == ["m", "m"]
    [(model, failure, served, windows), second] = pool.released
    assert (model, failure, served) == ("m", None, True)
    assert [(w.kind, w.limit, w.remaining) for w in windows] == [("requests", 30, 29)]
    assert second == ("m", FailureClass.SERVER, True, ())


async def test_no_free_key_means_no_probe_and_nothing_counted(clock: MockClock) -> None:
    sim = Simulator(name="a")
    pool = FakePool(free=False)
    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            await nursery.start(sim.serve)
            checker = HealthChecker(config_for({"a": sim}), {"a": pool})
            await nursery.start(checker.run)
            await sleep_until(30.5)
            nursery.cancel_scope.cancel()
    assert (sim.probes, len(pool.leased), pool.released) == (0, 3, [])
    assert checker.book.state("a", trio.current_time()) is Health.UNKNOWN


async def test_a_probe_cut_short_by_shutdown_gives_the_key_back_unjudged(
    clock: MockClock,
) -> None:
    sim = Simulator(name="a", probe_script=always(Hang()))
    pool = FakePool()
    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            await nursery.start(sim.serve)
            checker = HealthChecker(config_for({"a": sim}), {"a": pool})
            async with trio.open_nursery() as inner:
                await inner.start(checker.run)
                await sleep_until(11)
                inner.cancel_scope.cancel()
            nursery.cancel_scope.cancel()
    assert pool.released == [("m", None, False, ())]
