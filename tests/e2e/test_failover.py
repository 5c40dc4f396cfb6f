"""The acceptance scenario: a 429 with Retry-After on the first candidate, a 200 on the second."""

import trio

from edge.simulator import Complete, Error, always
from tests.e2e.harness import launch, text_of

CHAIN = {"coding-elite": ["alpha/m-large", "beta/m-large"]}


async def test_non_streaming_fails_over_and_respects_retry_after() -> None:
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {
                    "alpha": always(Error.rate_limited(retry_after=1)),
                    "beta": always(Complete("served by beta")),
                },
                virtual_models=CHAIN,
            )
            alpha, beta = gateway.upstreams["alpha"], gateway.upstreams["beta"]

            raw = await gateway.chat("coding-elite")
            assert raw.parse().choices[0].message.content == "served by beta"
            assert raw.headers["x-baton-provider"] == "beta"
            assert raw.headers["x-baton-model"] == "m-large"
            assert raw.headers["x-baton-attempts"] == "2"
            assert raw.headers["x-baton-route"] == "alpha/m-large=429,beta/m-large=200"
            assert beta.calls[0].json["model"] == "m-large"

            raw = await gateway.chat("coding-elite")  # alpha is cooling: not called at all
            assert raw.headers["x-baton-route"] == "alpha/m-large=cooling,beta/m-large=200"
            assert raw.headers["x-baton-attempts"] == "1"
            assert len(alpha.calls) == 1

            await trio.sleep(1.1)  # Retry-After has passed: alpha is asked again
            raw = await gateway.chat("coding-elite")
            assert raw.headers["x-baton-route"] == "alpha/m-large=429,beta/m-large=200"
            assert len(alpha.calls) == 2
            nursery.cancel_scope.cancel()


async def test_streaming_fails_over_and_respects_retry_after() -> None:
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {
                    "alpha": always(Error.rate_limited(retry_after=1)),
                    "beta": always(Complete("streamed by beta", chunks=4)),
                },
                virtual_models=CHAIN,
            )
            alpha = gateway.upstreams["alpha"]

            raw, chunks = await gateway.stream("coding-elite")
            assert text_of(chunks) == "streamed by beta"
            assert raw.headers["content-type"].startswith("text/event-stream")
            assert raw.headers["x-baton-provider"] == "beta"
            assert raw.headers["x-baton-route"] == "alpha/m-large=429,beta/m-large=200"
            assert chunks[-1].choices[0].finish_reason == "stop"

            raw, chunks = await gateway.stream("coding-elite")
            assert raw.headers["x-baton-route"] == "alpha/m-large=cooling,beta/m-large=200"
            assert len(alpha.calls) == 1

            await trio.sleep(1.1)
            raw, chunks = await gateway.stream("coding-elite")
            assert text_of(chunks) == "streamed by beta"
            assert len(alpha.calls) == 2
            nursery.cancel_scope.cancel()
