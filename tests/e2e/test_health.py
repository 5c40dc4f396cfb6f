"""The health checker in a running system: real probes on real sockets, on the real clock."""

from __future__ import annotations

from collections.abc import Callable

import attrs
import trio
import yaml

import config as baton_config
from actors.health_book import Health
from actors.routing import effective_chain
from actors.system import ActorSystem
from edge.simulator import Complete, Error, Reply, SimRequest, Simulator, always
from tests.e2e.harness import gateway_config, start_gateway, start_upstreams

CHAIN = {"fast": ["alpha/m", "beta/m"]}
PROBES = {"interval": 0.3, "timeout": 1}


@attrs.define
class Switch:
    """A reply script that can be flipped between healthy and failing (by hand, or on a
    period of the clock)."""

    healthy: bool = True
    period: float | None = None
    started: float = attrs.field(factory=trio.current_time)

    def is_healthy(self) -> bool:
        if self.period is None:
            return self.healthy
        return int((trio.current_time() - self.started) / self.period) % 2 == 0

    def __call__(self, _request: SimRequest) -> Reply:
        return Complete("hello") if self.is_healthy() else Error(503)


async def until(condition: Callable[[], bool], step: float = 0.05) -> None:
    while not condition():
        await trio.sleep(step)


async def test_a_probe_429_cools_the_key_for_real_calls() -> None:
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            upstreams = await start_upstreams(
                nursery, alpha=always(Complete()), beta=always(Complete())
            )
            alpha = upstreams["alpha"]
            alpha.probe_script = always(Error.rate_limited(retry_after=60))
            # the probe leases its key for alpha's first listed model, and cools it for that
            providers = {"alpha": {"models": ["m"]}}
            document = gateway_config(upstreams, virtual_models=CHAIN, providers=providers)
            document["health"] = PROBES
            gateway = await start_gateway(nursery, document, upstreams)
            await until(lambda: alpha.probes >= 1)
            await trio.sleep(0.05)  # the probe's reply is in and its key released
            raw = await gateway.chat("fast")
            assert raw.headers["x-baton-route"] == "alpha/m=cooling,beta/m=200"
            assert alpha.calls == []
            nursery.cancel_scope.cancel()


async def test_the_system_orders_a_down_provider_last_until_it_recovers() -> None:
    switch = Switch(healthy=False)
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            alpha = Simulator(always(Complete()), name="alpha", probe_script=switch)
            beta = Simulator(always(Complete()), name="beta")
            for sim in (alpha, beta):
                await nursery.start(sim.serve)
            document = gateway_config({"alpha": alpha, "beta": beta}, virtual_models=CHAIN)
            document["health"] = PROBES
            loaded = baton_config.load_text(yaml.safe_dump(document), env={})
            system = await ActorSystem.start(nursery, loaded.config)

            def order() -> list[str]:
                chain = effective_chain(system.router, system.health, "fast", trio.current_time())
                assert chain is not None
                return [target.provider for target in chain]

            assert order() == ["alpha", "beta"]
            await until(lambda: system.health.state("alpha", trio.current_time()) is Health.DOWN)
            assert order() == ["beta", "alpha"]
            assert system.health.state("beta", trio.current_time()) is Health.UP
            switch.healthy = True
            await until(
                lambda: system.health.state("alpha", trio.current_time()) is not Health.DOWN
            )
            assert order() == ["alpha", "beta"]
            nursery.cancel_scope.cancel()


async def test_a_flapping_provider_fails_no_call_and_serves_again_once_it_recovers() -> None:
    """The chaos case, compressed: alpha flips between healthy and failing every half second
    for four seconds; every call succeeds (beta is healthy), and once alpha stays healthy it
    serves calls again."""
    flapping = Switch(period=0.5)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            upstreams = await start_upstreams(nursery, alpha=flapping, beta=always(Complete()))
            upstreams["alpha"].probe_script = flapping
            document = gateway_config(upstreams, virtual_models=CHAIN)
            document["health"] = PROBES
            gateway = await start_gateway(nursery, document, upstreams)
            served: list[str] = []
            while trio.current_time() - flapping.started < 4:
                raw = await gateway.chat("fast")  # raises on any failure
                served.append(raw.headers["x-baton-provider"])
                await trio.sleep(0.05)
            assert {"alpha", "beta"} <= set(served)
            flapping.period, flapping.healthy = None, True
            while True:  # within a few probe intervals alpha is first again
                raw = await gateway.chat("fast")
                if raw.headers["x-baton-provider"] == "alpha":
                    break
                await trio.sleep(0.1)
            nursery.cancel_scope.cancel()
