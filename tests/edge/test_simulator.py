"""The simulator against a real HTTP client (httpx), byte for byte where it matters."""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import pytest
import trio

from edge.simulator import (
    Complete,
    Cut,
    Error,
    Garbage,
    Hang,
    Simulator,
    Stall,
    ToolCall,
    always,
    by_key,
    by_model,
    sequence,
)
from edge.simulator.payloads import split_text
from tests.schema import SchemaMismatch, validate

CHAT = "/chat/completions"
MESSAGES = [{"role": "user", "content": "Say hello to the simulator"}]
SHORT = httpx2.Timeout(5.0, read=0.3)


@asynccontextmanager
async def running(
    sim: Simulator, timeout: httpx2.Timeout | float = 5.0
) -> AsyncIterator[httpx2.AsyncClient]:
    async with sim.serving(), httpx2.AsyncClient(base_url=sim.base_url, timeout=timeout) as client:
        yield client
    assert sim.errors == []


def chat(*, stream: bool = False, model: str = "sim-model", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": MESSAGES, "stream": stream, **extra}


def sse_data(raw: bytes) -> list[str]:
    """The `data:` payloads of a complete SSE body, checking the framing on the way."""
    assert raw.endswith(b"\n\n"), raw[-40:]
    events = raw.decode().split("\n\n")[:-1]
    assert all(event.startswith("data: ") for event in events), events
    return [event.removeprefix("data: ") for event in events]


def stream_chunks(raw: bytes) -> list[dict[str, Any]]:
    """Every chunk of a finished stream, validated against the spec; `[DONE]` must end it."""
    data = sse_data(raw)
    assert data[-1] == "[DONE]"
    chunks = [json.loads(item) for item in data[:-1]]
    for chunk in chunks:
        validate(chunk, "CreateChatCompletionStreamResponse")
    return chunks


def reassemble(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """Fold deltas the way clients do: concatenate every string per field and tool index."""
    message: dict[str, Any] = {"content": "", "reasoning_content": "", "tool_calls": {}}
    finish = None
    for chunk in chunks:
        for choice in chunk["choices"]:
            delta = choice["delta"]
            for field in ("content", "reasoning_content"):
                message[field] += delta.get(field) or ""
            for call in delta.get("tool_calls", []):
                slot = message["tool_calls"].setdefault(
                    call["index"], {"id": "", "type": "", "name": "", "arguments": ""}
                )
                slot["id"] += call.get("id", "")
                slot["type"] += call.get("type", "")
                slot["name"] += call.get("function", {}).get("name", "")
                slot["arguments"] += call.get("function", {}).get("arguments", "")
            finish = choice["finish_reason"] or finish
    message["finish_reason"] = finish
    return message


async def test_non_stream_completion_matches_the_schema() -> None:
    sim = Simulator(always(Complete("Hi there", reasoning="think", headers={"x-extra": "1"})))
    with trio.fail_after(10):
        async with running(sim) as client:
            response = await client.post(CHAT, json=chat(model="gpt-x"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-extra"] == "1"
    body = response.json()
    validate(body, "CreateChatCompletionResponse")
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    assert body["model"] == "gpt-x"
    [choice] = body["choices"]
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == "Hi there"
    assert choice["message"]["reasoning_content"] == "think"
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 1
    [call] = sim.calls
    assert (call.method, call.path, call.model, call.stream) == (
        "POST",
        "/v1" + CHAT,
        "gpt-x",
        False,
    )
    assert call.json["messages"] == MESSAGES


async def test_non_stream_tool_calls_have_null_content() -> None:
    reply = Complete("", tool_calls=[ToolCall()], model="served-model")
    sim = Simulator(always(reply))
    with trio.fail_after(10):
        async with running(sim) as client:
            body = (await client.post(CHAT, json=chat())).json()
    validate(body, "CreateChatCompletionResponse")
    message = body["choices"][0]["message"]
    assert body["model"] == "served-model"
    assert message["content"] is None
    assert body["choices"][0]["finish_reason"] == "tool_calls"
    assert message["tool_calls"] == [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
        }
    ]


async def test_stream_with_reasoning_text_and_parallel_tool_calls() -> None:
    calls = (
        ToolCall("call_a", "get_weather", '{"city":"Paris","unit":"celsius"}'),
        ToolCall("call_b", "get_time", '{"tz":"Europe/Paris"}'),
    )
    reply = Complete("Checking both now.", reasoning="The user wants two things", tool_calls=calls)
    sim = Simulator(always(reply))
    with trio.fail_after(10):
        async with running(sim) as client:
            response = await client.post(CHAT, json=chat(stream=True))
    assert response.headers["content-type"] == "text/event-stream"
    assert response.headers["transfer-encoding"] == "chunked"
    chunks = stream_chunks(response.content)
    assert {c["id"] for c in chunks} == {chunks[0]["id"]}
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all("usage" not in c for c in chunks)  # include_usage was not asked for
    # reasoning first, then content: several word-ish pieces each
    kinds = [next(iter(c["choices"][0]["delta"]), None) for c in chunks[1:]]
    assert kinds.index("content") > kinds.index("reasoning_content")
    assert kinds.count("reasoning_content") == 5 and kinds.count("content") == 3
    # only the first delta for an index names the call
    for chunk in chunks:
        for call in chunk["choices"][0]["delta"].get("tool_calls", []):
            assert ("id" in call) == ("name" in call["function"]) == ("type" in call)
    message = reassemble(chunks)
    assert message["content"] == "Checking both now."
    assert message["reasoning_content"] == "The user wants two things"
    assert message["finish_reason"] == "tool_calls"
    assert message["tool_calls"] == {
        i: {"id": c.id, "type": "function", "name": c.name, "arguments": c.arguments}
        for i, c in enumerate(calls)
    }
    assert len([c for c in chunks if c["choices"][0]["finish_reason"]]) == 1


async def test_stream_include_usage_sends_a_last_usage_chunk() -> None:
    sim = Simulator(always(Complete("one two three four", chunks=2)))
    body = chat(stream=True, stream_options={"include_usage": True})
    with trio.fail_after(10):
        async with running(sim) as client:
            response = await client.post(CHAT, json=body)
    chunks = stream_chunks(response.content)
    *rest, last = chunks
    assert last["choices"] == []
    assert last["usage"]["completion_tokens"] == 4
    assert all(c["usage"] is None for c in rest)
    pieces = [c["choices"][0]["delta"].get("content") for c in rest[1:-1]]
    assert pieces == ["one two t", "hree four"]  # chunks=2: two near-equal halves
    assert rest[-1]["choices"][0]["finish_reason"] == "stop"


async def test_error_429_with_retry_after_and_envelope() -> None:
    sim = Simulator(always(Error(429, headers={"retry-after": "2"})))
    with trio.fail_after(10):
        async with running(sim) as client:
            response = await client.post(CHAT, json=chat(stream=True))
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"
    error = response.json()["error"]
    assert set(error) == {"message", "type", "code", "param"}
    assert error["code"] == "rate_limit_exceeded"
    validate(response.json(), "ErrorResponse")


@pytest.mark.parametrize(
    ("reply", "status", "code"),
    [
        (Error.rate_limited(retry_after=1.5), 429, "rate_limit_exceeded"),
        (Error.insufficient_quota(), 429, "insufficient_quota"),
        (Error.invalid_api_key(), 401, "invalid_api_key"),
        (Error.context_length_exceeded(), 400, "context_length_exceeded"),
        (Error(503), 503, "service_unavailable"),
        (Error(418), 418, None),
    ],
)
async def test_error_envelopes(reply: Error, status: int, code: str | None) -> None:
    sim = Simulator(always(reply))
    with trio.fail_after(10):
        async with running(sim) as client:
            response = await client.post(CHAT, json=chat())
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    validate(response.json(), "ErrorResponse")


async def test_error_with_raw_or_dict_body() -> None:
    sim = Simulator(
        sequence(Error(502, body=b"<html>bad gateway</html>"), Error(400, body={"x": 1}))
    )
    with trio.fail_after(10):
        async with running(sim) as client:
            raw = await client.post(CHAT, json=chat())
            custom = await client.post(CHAT, json=chat())
    assert (raw.status_code, raw.content) == (502, b"<html>bad gateway</html>")
    assert raw.headers["content-type"].startswith("text/plain")
    assert (custom.status_code, custom.json()) == (400, {"x": 1})


async def test_hang_until_the_client_times_out() -> None:
    sim = Simulator(always(Hang()))
    with trio.fail_after(10):
        async with running(sim, SHORT) as client:
            with pytest.raises(httpx2.ReadTimeout):
                await client.post(CHAT, json=chat())
            await sim.wait_for_disconnects(1)
    assert sim.disconnects == 1
    assert len(sim.calls) == 1


async def test_wait_for_calls_then_cancel_the_client() -> None:
    sim = Simulator(always(Hang()))
    with trio.fail_after(10):
        async with running(sim) as client:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(functools.partial(client.post, CHAT, json=chat()))
                await sim.wait_for_calls(1)
                assert sim.disconnects == 0
                nursery.cancel_scope.cancel()  # the client gives up: httpx drops the connection
            await sim.wait_for_disconnects(1)


async def test_delay_abandoned_by_the_client_counts_as_a_disconnect() -> None:
    sim = Simulator(always(Complete(delay=30)))
    with trio.fail_after(10):
        async with running(sim, SHORT) as client:
            with pytest.raises(httpx2.ReadTimeout):
                await client.post(CHAT, json=chat())
            await sim.wait_for_disconnects(1)


async def test_stall_after_two_chunks() -> None:
    sim = Simulator(always(Stall(after_chunks=2, reply=Complete("never finished"))))
    received: list[str] = []
    with trio.fail_after(10):
        async with running(sim, SHORT) as client:
            async with client.stream("POST", CHAT, json=chat(stream=True)) as response:
                assert response.status_code == 200
                with pytest.raises(httpx2.ReadTimeout):
                    async for line in response.aiter_lines():
                        if line:
                            received.append(line)
            await sim.wait_for_disconnects(1)
    chunks = [json.loads(line.removeprefix("data: ")) for line in received]
    assert [c["choices"][0]["delta"] for c in chunks] == [
        {"role": "assistant", "content": ""},
        {"content": "never"},
    ]


async def test_stall_non_stream_sends_headers_then_goes_silent() -> None:
    sim = Simulator(always(Stall()))
    with trio.fail_after(10):
        async with running(sim, SHORT) as client:
            with pytest.raises(httpx2.ReadTimeout):
                await client.post(CHAT, json=chat())
            await sim.wait_for_disconnects(1)


async def test_stream_abandoned_mid_way_counts_as_a_disconnect() -> None:
    sim = Simulator(always(Complete("a b c d e f g h", chunk_delay=0.05)))
    with trio.fail_after(10):
        async with running(sim) as client:
            async with client.stream("POST", CHAT, json=chat(stream=True)) as response:
                assert response.status_code == 200
                # leaving unread closes the connection (breaking out of aiter_lines() would
                # leave httpx's nested async generators to the garbage collector)
            await sim.wait_for_disconnects(1)


@pytest.mark.parametrize("reset", [False, True])
async def test_cut_stream_after_two_chunks(reset: bool) -> None:
    sim = Simulator(sequence(Cut(after_chunks=2, reset=reset), then=Complete()))
    received: list[str] = []
    with trio.fail_after(10):
        async with running(sim) as client:
            async with client.stream("POST", CHAT, json=chat(stream=True)) as response:
                with pytest.raises((httpx2.RemoteProtocolError, httpx2.ReadError)) as caught:
                    async for line in response.aiter_lines():
                        if line:
                            received.append(line)
            # the connection is gone, but the server is fine: the next request works
            assert (await client.post(CHAT, json=chat())).status_code == 200
    if not reset:  # an RST may discard bytes the client had not read yet
        assert isinstance(caught.value, httpx2.RemoteProtocolError)
        assert len(received) == 2
    assert "[DONE]" not in "".join(received)
    assert sim.disconnects == 0
    assert sim.connections == 2


async def test_cut_non_stream_sends_half_the_body() -> None:
    sim = Simulator(sequence(Cut(), then=Complete()))
    with trio.fail_after(10):
        async with running(sim) as client:
            with pytest.raises(httpx2.RemoteProtocolError, match=r"complete message body"):
                await client.post(CHAT, json=chat())
            assert (await client.post(CHAT, json=chat())).status_code == 200
    assert sim.disconnects == 0


async def test_garbage() -> None:
    sim = Simulator(always(Garbage()))
    with trio.fail_after(10):
        async with running(sim) as client:
            plain = await client.post(CHAT, json=chat())
            streamed = await client.post(CHAT, json=chat(stream=True))
    assert plain.status_code == 200
    assert plain.headers["content-type"] == "application/json"
    assert plain.content == b"<html>oops</html>"
    with pytest.raises(json.JSONDecodeError):
        plain.json()
    assert streamed.headers["content-type"] == "text/event-stream"
    assert streamed.content == b"<html>oops</html>"


async def test_keep_alive_serves_sequential_requests_on_one_connection() -> None:
    sim = Simulator(always(Complete("pong")))
    with trio.fail_after(10):
        async with running(sim) as client:
            for stream in (False, True, False):
                response = await client.post(CHAT, json=chat(stream=stream))
                assert response.status_code == 200
            # a chunked request body (httpx sends one for an async iterable)

            async def body() -> AsyncIterator[bytes]:
                text = json.dumps(chat()).encode()
                yield text[:10]
                yield text[10:]

            response = await client.post(CHAT, content=body())
            assert response.json()["choices"][0]["message"]["content"] == "pong"
    assert len(sim.calls) == 4
    assert sim.calls[3].json == chat()
    assert sim.connections == 1


async def test_sequence_then_and_by_key() -> None:
    keyed = by_key(
        {"good": Complete("ok"), "flaky": sequence(Error(500), then=Complete("second try"))}
    )
    sim = Simulator(keyed)
    with trio.fail_after(10):
        async with running(sim) as client:

            async def ask(key: str | None) -> int:
                headers = {"authorization": f"Bearer {key}"} if key else {}
                return (await client.post(CHAT, json=chat(), headers=headers)).status_code

            assert [await ask(k) for k in ("good", "flaky", "flaky", "flaky", "bad", None)] == [
                200,
                500,
                200,
                200,
                401,
                401,
            ]
            response = await client.post(CHAT, json=chat(), headers={"x-api-key": "good"})
            assert response.status_code == 200
    assert [c.api_key for c in sim.calls_with_key("flaky")] == ["flaky"] * 3
    assert len(sim.calls_with_key("good")) == 2


async def test_sequence_repeats_the_last_reply() -> None:
    script = sequence(Error(503), Complete("a"))
    sim = Simulator(script)
    with trio.fail_after(10):
        async with running(sim) as client:
            statuses = [(await client.post(CHAT, json=chat())).status_code for _ in range(4)]
    assert statuses == [503, 200, 200, 200]


async def test_by_model() -> None:
    sim = Simulator(by_model({"fast": Complete("quick"), "slow": Error(504)}))
    with trio.fail_after(10):
        async with running(sim) as client:
            fast = await client.post(CHAT, json=chat(model="fast"))
            slow = await client.post(CHAT, json=chat(model="slow"))
            unknown = await client.post(CHAT, json=chat(model="nope"))
    assert fast.json()["model"] == "fast"
    assert (slow.status_code, unknown.status_code) == (504, 404)
    assert unknown.json()["error"]["code"] == "model_not_found"


async def test_models_listing_and_routes() -> None:
    sim = Simulator(name="groq-sim", models=("m1", "m2"))
    with trio.fail_after(10):
        async with running(sim) as client:
            listing = await client.get("/models")
            bare = await client.get(f"http://127.0.0.1:{sim.port}/models")
            unprefixed = await client.post(f"http://127.0.0.1:{sim.port}{CHAT}", json=chat())
            missing = await client.post("/completions", json={})
    assert listing.json() == bare.json()
    validate(listing.json(), "ListModelsResponse")
    assert [m["id"] for m in listing.json()["data"]] == ["m1", "m2"]
    assert {m["owned_by"] for m in listing.json()["data"]} == {"groq-sim"}
    assert unprefixed.status_code == 200
    assert missing.status_code == 404
    assert missing.json()["error"] == {
        "message": "Invalid URL (POST /v1/completions)",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    assert sim.probes == 2
    assert len(sim.calls) == 1


async def test_probe_script_can_fail_the_models_listing() -> None:
    sim = Simulator(probe_script=by_key({"ok": Complete()}))
    with trio.fail_after(10):
        async with running(sim) as client:
            denied = await client.get("/models", headers={"authorization": "Bearer nope"})
            allowed = await client.get("/models", headers={"authorization": "Bearer ok"})
    assert (denied.status_code, allowed.status_code) == (401, 200)


async def test_script_exception_becomes_a_500_and_is_recorded() -> None:
    def broken(_request: object) -> Complete:
        raise ValueError("boom")

    sim = Simulator(broken)
    with trio.fail_after(10):
        async with sim.serving(), httpx2.AsyncClient(base_url=sim.base_url) as client:
            response = await client.post(CHAT, json=chat())
    assert response.status_code == 500
    assert "boom" in response.json()["error"]["message"]
    assert [type(e) for e in sim.errors] == [ValueError]


async def test_misbehaving_raw_clients_do_not_hurt_the_server() -> None:
    sim = Simulator()
    with trio.fail_after(10):
        async with running(sim) as client:
            # a malformed request line gets a 400 and a closed connection
            stream = await trio.open_tcp_stream("127.0.0.1", sim.port)
            await stream.send_all(b"NONSENSE\r\n\r\n")
            reply = b""
            while chunk := await stream.receive_some():
                reply += chunk
            assert reply.startswith(b"HTTP/1.1 400 ")
            await stream.aclose()
            # a client that leaves half-way through its request body
            stream = await trio.open_tcp_stream("127.0.0.1", sim.port)
            head = b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n"
            await stream.send_all(head + b"{")
            await stream.aclose()
            # a client that connects and says nothing
            idle = await trio.open_tcp_stream("127.0.0.1", sim.port)
            await idle.aclose()
            assert (await client.post(CHAT, json=chat())).status_code == 200
    assert len(sim.calls) == 1
    assert sim.disconnects == 0


async def test_schema_helper_rejects_wrong_shapes() -> None:
    chunk = {
        "id": "x",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": None}],
        "usage": None,
    }
    validate(chunk, "CreateChatCompletionStreamResponse")  # `nullable` fields accept null
    chunk["choices"][0]["finish_reason"] = "done"
    with pytest.raises(SchemaMismatch, match=r"finish_reason"):
        validate(chunk, "CreateChatCompletionStreamResponse")
    with pytest.raises(SchemaMismatch, match="'created' is a required property"):
        validate(
            {"id": "x", "object": "chat.completion", "model": "m", "choices": []},
            "CreateChatCompletionResponse",
        )


async def test_stopping_the_server_closes_hung_connections() -> None:
    sim = Simulator(always(Hang()))
    failures: list[Exception] = []

    async def call(client: httpx2.AsyncClient, url: str) -> None:
        try:
            await client.post(url, json=chat())
        except httpx2.HTTPError as exc:
            failures.append(exc)

    with trio.fail_after(10):
        async with httpx2.AsyncClient(timeout=5) as client, trio.open_nursery() as clients:
            async with trio.open_nursery() as server:
                await server.start(sim.serve)
                clients.start_soon(call, client, sim.base_url + CHAT)
                clients.start_soon(call, client, sim.base_url + CHAT)
                await sim.wait_for_calls(2)
                server.cancel_scope.cancel()  # stop the server under the hung clients
    assert [type(e) for e in failures] == [httpx2.RemoteProtocolError] * 2
    assert sim.errors == []
    assert sim.disconnects == 0  # the server left, not the client


@pytest.mark.parametrize(
    ("text", "chunks", "pieces"),
    [
        ("Hello from sim", None, ["Hello", " from", " sim"]),
        ("  lead and trail  ", None, ["  lead", " and", " trail", "  "]),
        ("abcdef", 4, ["ab", "cd", "e", "f"]),
        ("ab", 5, ["a", "b"]),
        ("", None, []),
        ("ignored", ("x", "y"), ["x", "y"]),
    ],
)
def test_split_text(text: str, chunks: int | tuple[str, ...] | None, pieces: list[str]) -> None:
    assert split_text(text, chunks) == pieces
