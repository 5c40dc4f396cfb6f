"""Every row of the failure-class table (protocols/failures.py), end to end.

A chain `alpha/m -> beta/m`; alpha misbehaves in one way, beta serves. Each row asserts where
the call went, what the route header says, and what became of the failing key.
"""

import pytest
import trio

from edge.simulator import Complete, Cut, Error, Garbage, Hang, Reply, Stall, always, by_key
from tests.e2e.harness import launch, text_of

CHAIN = {"vm": ["alpha/m", "beta/m"]}
TIMEOUTS = {"first_byte": 0.5, "idle": 0.5}


async def run_chain(alpha: Reply, *, stream: bool = False):
    async with trio.open_nursery() as nursery:
        gateway = await launch(
            nursery,
            {"alpha": always(alpha), "beta": always(Complete("from beta"))},
            virtual_models=CHAIN,
            timeouts=TIMEOUTS,
        )
        if stream:
            raw, chunks = await gateway.stream("vm")
            assert text_of(chunks) == "from beta"
        else:
            raw = await gateway.chat("vm")
            assert raw.parse().choices[0].message.content == "from beta"
        assert raw.headers["x-baton-provider"] == "beta"
        nursery.cancel_scope.cancel()
    return raw.headers["x-baton-route"], gateway.upstreams["alpha"]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize(
    ("reply", "mark"),
    [
        (Error(500), "500"),  # server
        (Error(503), "503"),  # server
        (Error(404), "404"),  # upstream lacks the model
        (Error.context_length_exceeded(), "400"),  # context length
        (Error(413, body={"error": {"message": "Request too large: tokens per minute"}}), "413"),
        (Error(408), "408"),  # timeout status
        (Hang(), "timeout"),  # first-byte timeout
        (Garbage(b"<html>not json</html>"), "malformed"),  # malformed 200
        (Garbage(b"\x00\x01 not HTTP", status=200, content_type="text/plain"), "malformed"),
        (Stall(after_chunks=1), "timeout"),  # stream stalls before content
        (Cut(after_chunks=1), "connect"),  # stream cut before content
    ],
    ids=[
        "500",
        "503",
        "404",
        "context",
        "413-tokens",
        "408",
        "hang",
        "garbage",
        "garbage-2",
        "stall-early",
        "cut-early",
    ],
)
async def test_failures_that_go_to_the_next_candidate(
    reply: Reply, mark: str, stream: bool
) -> None:
    if not stream and isinstance(reply, Stall | Cut):
        mark = "timeout" if isinstance(reply, Stall) else "connect"
    if isinstance(reply, Garbage) and stream and reply.content_type == "text/plain":
        mark = "malformed"
    with trio.fail_after(15):
        route, alpha = await run_chain(reply, stream=stream)
    assert route == f"alpha/m={mark},beta/m=200"
    assert len(alpha.calls) == 1


async def test_a_server_error_does_not_cool_the_key() -> None:
    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {"alpha": always(Error(500)), "beta": always(Complete("from beta"))},
                virtual_models=CHAIN,
            )
            for _ in range(3):
                raw = await gateway.chat("vm")
                assert raw.headers["x-baton-route"] == "alpha/m=500,beta/m=200"
            assert len(gateway.upstreams["alpha"].calls) == 3
            nursery.cancel_scope.cancel()


async def test_connection_refused_goes_to_the_next_candidate() -> None:
    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            closed = trio.socket.socket()
            await closed.bind(("127.0.0.1", 0))
            port = closed.getsockname()[1]
            closed.close()  # nothing listens on this port now
            gateway = await launch(
                nursery,
                {"alpha": always(Complete()), "beta": always(Complete("from beta"))},
                virtual_models=CHAIN,
                providers={"alpha": {"base_url": f"http://127.0.0.1:{port}/v1"}},
            )
            raw = await gateway.chat("vm")
            assert raw.headers["x-baton-route"] == "alpha/m=connect,beta/m=200"
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    ("failure", "mark", "cooled_for"),
    [
        (Error.rate_limited(retry_after=30), "429", "m"),
        (Error.insufficient_quota(), "429", "m"),
        (Error(402), "402", "m"),
        (Error.invalid_api_key(), "401", "all models"),
        (Error(403), "403", "all models"),
    ],
    ids=["429", "quota", "402", "401", "403"],
)
async def test_key_failures_cool_the_key_and_try_the_next_key(
    failure: Reply, mark: str, cooled_for: str
) -> None:
    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {
                    "alpha": by_key({"bad-key": failure, "good-key": Complete("from good key")}),
                    "beta": always(Complete("from beta")),
                },
                virtual_models=CHAIN,
                keys={"alpha": ["bad-key", "good-key"]},
                providers={"alpha": {"rotation": "sequential"}},
            )
            alpha = gateway.upstreams["alpha"]
            raw = await gateway.chat("vm")
            assert raw.parse().choices[0].message.content == "from good key"
            assert raw.headers["x-baton-route"] == f"alpha/m={mark},alpha/m=200"
            assert raw.headers["x-baton-provider"] == "alpha"
            for model in ("vm", "alpha/m2"):  # the bad key is cooling: never used again
                raw = await gateway.chat(model)
                assert raw.headers["x-baton-provider"] == "alpha"
            expected_bad_calls = 2 if cooled_for == "m" else 1  # rate limits are per model
            assert len(alpha.calls_with_key("bad-key")) == expected_bad_calls
            assert len(alpha.calls_with_key("good-key")) == 3
            nursery.cancel_scope.cancel()


async def test_when_every_key_fails_the_next_candidate_serves() -> None:
    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {"alpha": always(Error.invalid_api_key()), "beta": always(Complete("from beta"))},
                virtual_models=CHAIN,
                keys={"alpha": ["k1", "k2"]},
            )
            raw = await gateway.chat("vm")
            assert raw.headers["x-baton-route"] == "alpha/m=401,alpha/m=401,beta/m=200"
            raw = await gateway.chat("vm")
            assert raw.headers["x-baton-route"] == "alpha/m=cooling,beta/m=200"
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("status", [400, 413, 422])
async def test_caller_faults_go_straight_back_to_the_client(status: int, stream: bool) -> None:
    import openai

    body = {
        "error": {
            "message": f"Invalid value for 'temperature' ({status})",
            "type": "invalid_request_error",
            "param": "temperature",
            "code": "invalid_value",
        }
    }
    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {"alpha": always(Error(status, body=body)), "beta": always(Complete("from beta"))},
                virtual_models=CHAIN,
            )
            with pytest.raises(openai.APIStatusError) as caught:
                if stream:
                    await gateway.stream("vm", temperature=7)
                else:
                    await gateway.chat("vm", temperature=7)
            error = caught.value
            assert error.status_code == status
            assert error.body == body["error"]
            assert error.response.headers["x-baton-route"] == f"alpha/m={status}"
            assert gateway.upstreams["beta"].calls == []
            nursery.cancel_scope.cancel()


async def test_context_length_everywhere_is_a_400_for_the_caller() -> None:
    import openai

    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {
                    "alpha": always(Error.context_length_exceeded()),
                    "beta": always(Error.context_length_exceeded()),
                },
                virtual_models=CHAIN,
            )
            with pytest.raises(openai.BadRequestError) as caught:
                await gateway.chat("vm")
            assert caught.value.code == "context_length_exceeded"
            assert "maximum context length" in caught.value.message
            route = caught.value.response.headers["x-baton-route"]
            assert route == "alpha/m=400,beta/m=400"
            nursery.cancel_scope.cancel()
