"""What real clients found at the edges of the Responses API: `input_tokens` and `compact`
(openai-python's `responses.input_tokens.count` and `responses.compact`) are routes of their
own, not response ids; an unknown model over the WebSocket is `model_not_found`, not a server
error a client would retry; and a client closing its WebSocket, politely or by dropping the
connection as Codex does, is not an error in the gateway's log."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import openai
import pytest
import trio
from loguru import logger
from trio_websocket import wrap_client_stream

from edge import logs
from edge.simulator import Complete, always
from protocols.token_count import count_chat_input
from tests.e2e.harness import CLIENT_KEY, in_thread, launch, websocket
from tests.e2e.test_responses_ws import events_until_terminal

AUTH = [("authorization", f"Bearer {CLIENT_KEY}")]


@pytest.fixture
def out() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    logs.configure("DEBUG", json=True, stream=stream)
    yield stream
    logger.remove()


async def test_input_tokens_counts_the_request_as_the_upstream_would_see_it() -> None:
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery, {"alpha": always(Complete())}, virtual_models={"vm": ["alpha/m"]}
            )

            def run() -> tuple[int, int]:
                with gateway.client() as client:
                    short = client.responses.input_tokens.count(model="gpt-4o", input="hi")
                    long = client.responses.input_tokens.count(
                        model="gpt-4o",
                        instructions="be brief",
                        input="hello world, " * 50,
                    )
                    assert short.object == "response.input_tokens"
                    return short.input_tokens, long.input_tokens

            short, long = await in_thread(run)
            nursery.cancel_scope.cancel()
    expected = count_chat_input(
        {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    )
    assert short == expected
    assert long > short + 100  # 50 repeats of three tokens, and the instructions
    assert gateway.upstreams["alpha"].calls == []  # counted here, no model call


async def test_compact_is_an_honest_404_not_a_response_id_lookup() -> None:
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery, {"alpha": always(Complete())}, virtual_models={"vm": ["alpha/m"]}
            )

            def run() -> openai.NotFoundError:
                with gateway.client() as client:
                    with pytest.raises(openai.NotFoundError) as refused:
                        client.responses.compact(model="vm", input="x")
                    return refused.value

            refused = await in_thread(run)
            async with gateway.http() as http:
                lookup = await http.post("/v1/responses/resp_123")  # not a route: 405
            nursery.cancel_scope.cancel()
    assert refused.status_code == 404
    assert refused.body["code"] == "unsupported_endpoint"  # type: ignore[index]
    assert "compact" in refused.message
    assert lookup.status_code == 405
    assert "x-baton-route" not in lookup.headers


async def test_an_unknown_model_over_the_websocket_is_model_not_found() -> None:
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            gateway = await launch(nursery, {"alpha": always(Complete())})
            port = int(gateway.url.rpartition(":")[2])
            async with websocket(port, "/v1/responses", extra_headers=AUTH) as ws:
                create = {"type": "response.create", "model": "no-such-model", "input": "x"}
                await ws.send_message(json.dumps(create))
                events = await events_until_terminal(ws)
            nursery.cancel_scope.cancel()
    assert events[-1]["type"] == "response.failed"
    assert events[-1]["response"]["error"]["code"] == "model_not_found"


@pytest.mark.parametrize("how", ["close frame", "dropped connection"])
async def test_a_client_closing_its_websocket_is_not_an_error(out: io.StringIO, how: str) -> None:
    slow = Complete("a b c d e f", chunks=6, chunk_delay=0.2)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery, {"alpha": always(slow)}, virtual_models={"vm": ["alpha/m"]}
            )
            port = int(gateway.url.rpartition(":")[2])
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            async with trio.open_nursery() as client:
                ws = await wrap_client_stream(
                    client, stream, "127.0.0.1", "/v1/responses", extra_headers=AUTH
                )
                create = {"type": "response.create", "model": "vm", "input": "x", "store": False}
                await ws.send_message(json.dumps(create))
                while json.loads(await ws.get_message())["type"] != "response.output_text.delta":
                    pass  # the upstream is streaming
                if how == "close frame":
                    await ws.aclose(1000)
                else:
                    await stream.aclose()
                client.cancel_scope.cancel()
            await stream.aclose()
            await gateway.upstreams["alpha"].wait_for_disconnects(1)  # the call was cancelled
            async with gateway.http() as http:  # and the gateway serves on
                assert (await http.get("/health")).status_code == 200
            nursery.cancel_scope.cancel()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["message"] for line in lines if line["level"] in ("ERROR", "CRITICAL")] == []
    assert not any("Traceback" in json.dumps(line) for line in lines)
