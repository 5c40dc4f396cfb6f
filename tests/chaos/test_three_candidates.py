"""Chaos: 500 concurrent calls through a chain whose first candidate rate-limits, whose second
hangs and whose third serves. Every call must be served by the third; the first must not be
called again while its Retry-After runs; the hang may cost a call at most one first-byte
timeout, never its deadline."""

import contextlib
import time
from collections import Counter

import httpx2
import trio

from edge.simulator import Complete, Error, Hang, always
from tests.e2e.harness import CLIENT_KEY, gateway_config, start_gateway, start_upstreams

FIRST_BYTE = 2.0
TOTAL = 30.0
CALLS = 500
CLIENTS = 25


async def test_500_calls_through_a_429_a_hang_and_a_server() -> None:
    with trio.fail_after(90):
        async with trio.open_nursery() as nursery:
            upstreams = await start_upstreams(
                nursery,
                alpha=always(Error.rate_limited(retry_after=60)),
                beta=always(Hang()),
                gamma=always(Complete("from gamma")),
            )
            document = gateway_config(
                upstreams,
                virtual_models={"chaos": ["alpha/m", "beta/m", "gamma/m"]},
                timeouts={"first_byte": FIRST_BYTE, "total": TOTAL},
            )
            gateway = await start_gateway(nursery, document, upstreams)
            results: list[tuple[int, str, str, float]] = []
            # several clients: one httpx pool with hundreds of requests in flight costs
            # milliseconds per request (encode/httpx#3215), and this loop also runs the gateway
            async with contextlib.AsyncExitStack() as stack:
                clients = [
                    await stack.enter_async_context(
                        httpx2.AsyncClient(base_url=gateway.url, timeout=60)
                    )
                    for _ in range(CLIENTS)
                ]

                async def call(client: httpx2.AsyncClient) -> None:
                    start = time.monotonic()
                    reply = await client.post(
                        "/v1/chat/completions",
                        headers={"authorization": f"Bearer {CLIENT_KEY}"},
                        json={"model": "chaos", "messages": [{"role": "user", "content": "hi"}]},
                    )
                    body = reply.json()
                    text = body["choices"][0]["message"]["content"] if reply.is_success else body
                    route = reply.headers["x-baton-route"]
                    results.append((reply.status_code, text, route, time.monotonic() - start))

                async with trio.open_nursery() as wave:
                    for index in range(CALLS):
                        wave.start_soon(call, clients[index % CLIENTS])
                alpha_after_first_wave = len(upstreams["alpha"].calls)
                async with trio.open_nursery() as wave:
                    for index in range(100):
                        wave.start_soon(call, clients[index % CLIENTS])
            nursery.cancel_scope.cancel()
    assert len(results) == CALLS + 100
    assert Counter((status, text) for status, text, _, _ in results) == {
        (200, "from gamma"): CALLS + 100
    }
    # alpha answered its 429s to calls already on their way; once cooled, never again
    assert len(upstreams["alpha"].calls) == alpha_after_first_wave
    # a call tries beta once at most, and gives its hang up at the first-byte timeout (the
    # route says `timeout`), never waiting out its whole deadline; how long that takes in
    # seconds is the machine's business (speed is measured in benchmarks/, not here)
    for _, _, route, elapsed in results:
        hops = route.split(",")
        assert [hop for hop in hops if hop.startswith("beta/")] in ([], ["beta/m=timeout"])
        assert elapsed < TOTAL
    assert any("beta/m=timeout" in route for _, _, route, _ in results)
    # and the health record has put the hanging provider last: later calls skip its hang
    assert Counter(route for _, _, route, _ in results[-100:]) == {
        "alpha/m=cooling,gamma/m=200": 100
    }
