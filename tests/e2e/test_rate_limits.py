"""The rate-limit tracker end to end: baton never spends a request on a certain 429.

With `rpm: 60` on a provider with two keys and 200 calls offered in 10 s, the provider sees at
most 60 per key, and the calls beyond that go to the next candidate, served there, with the
route saying why. (Waiting for room instead, when there is no next candidate, is shown with
virtual time in tests/actors/test_rate_limited_pool.py: a minute is long for real time.)
"""

from collections import Counter

import trio

from edge.simulator import Complete, always
from tests.e2e.harness import gateway_config, start_gateway, start_upstreams


async def test_offered_load_beyond_the_rpm_goes_to_the_next_candidate() -> None:
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            upstreams = await start_upstreams(
                nursery, alpha=always(Complete("from alpha")), beta=always(Complete("from beta"))
            )
            document = gateway_config(
                upstreams,
                virtual_models={"limited": ["alpha/m", "beta/m"]},
                keys={"alpha": ["alpha-key-1", "alpha-key-2"]},
                providers={"alpha": {"limits": {"rpm": 60}}},
            )
            gateway = await start_gateway(nursery, document, upstreams)
            routes: list[str] = []

            async def call() -> None:
                raw = await gateway.chat("limited")
                routes.append(raw.headers["x-baton-route"])

            async with trio.open_nursery() as calls:
                for _ in range(200):
                    calls.start_soon(call)
                    await trio.sleep(10 / 200)
            nursery.cancel_scope.cancel()
    alpha, beta = upstreams["alpha"], upstreams["beta"]
    per_key = Counter(call.api_key for call in alpha.calls)
    assert per_key == {"alpha-key-1": 60, "alpha-key-2": 60}
    assert len(beta.calls) == 80
    assert len(routes) == 200
    assert Counter(routes) == {"alpha/m=200": 120, "alpha/m=full,beta/m=200": 80}
