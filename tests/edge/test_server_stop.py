"""The served gateway's graceful stop (`serve(..., shutdown_trigger=...)`), byte for byte:
idle connections are closed at once and `serve()` returns as soon as nothing is in flight; a
stream in flight may finish within `server.shutdown_grace`; when the grace runs out, a stream
still running ends with its protocol's own error event and a proper end of body (Chat:
`data: {"error": ... "shutting_down"}` and no `[DONE]`; Responses: `response.failed`), and a
call still waiting for its answer is answered 503 `shutting_down`. However the upstreams
behave, the stop is bounded by the grace and Hypercorn's farewell after it."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio

from edge.simulator import Complete, Hang, SimRequest, Stall, always
from edge.stopping import FAREWELL
from tests.edge.raw_http import RawClient, raw_request
from tests.edge.served import AUTH, Served, chat_body, chat_request, serving

GRACE = 1.0
PACED = Complete("one two three four", chunks=4, chunk_delay=0.15)  # about 1 s in all


def sse_data(body: bytes) -> list[Any]:
    """The `data:` payloads of an SSE body, JSON decoded (`[DONE]` kept as a string)."""
    payloads: list[Any] = []
    for event in body.decode().split("\n\n"):
        for line in event.splitlines():
            if line.startswith("data: "):
                data = line.removeprefix("data: ")
                payloads.append(data if data == "[DONE]" else json.loads(data))
    return payloads


async def assert_not_listening(served: Served) -> None:
    with pytest.raises(OSError):
        await trio.open_tcp_stream("127.0.0.1", served.port)


async def stop_and_time(served: Served) -> float:
    """Begin the stop; the seconds until `serve()` returned."""
    began = trio.current_time()
    served.stop.set()
    await served.stopped.wait()
    return trio.current_time() - began


async def test_idle_connections_are_closed_at_once_and_serve_returns() -> None:
    with trio.fail_after(10):
        async with serving(server={"shutdown_grace": 5}) as served:
            async with (
                await served.connect() as never_spoke,
                await served.connect() as served_one,
            ):
                await served_one.send(chat_request())
                assert (await served_one.reply()).status == 200
                await trio.sleep(0.05)  # both are idle now
                took = await stop_and_time(served)
                await never_spoke.assert_closed()
                await served_one.assert_closed()
            await assert_not_listening(served)
    assert took < 1.0  # not the 5 s grace


async def test_a_stream_in_flight_finishes_within_the_grace() -> None:
    with trio.fail_after(10):
        async with serving({"alpha": always(PACED)}, server={"shutdown_grace": 5}) as served:
            async with await served.connect() as busy, await served.connect() as idle:
                await idle.send(raw_request("GET", "/health"))
                await idle.reply()
                await busy.send(chat_request(chat_body(stream=True)))
                await busy.until(b'"content":"one')
                began = trio.current_time()
                served.stop.set()
                await idle.assert_closed()  # at once, while the stream goes on
                await assert_not_listening(served)
                assert not served.stopped.is_set()
                rest = await busy.until(b"\r\n0\r\n\r\n")
                await busy.assert_closed()
                await served.stopped.wait()
                took = trio.current_time() - began
    assert b"data: [DONE]\n\n" in rest
    assert b"shutting_down" not in rest
    assert took < 3.0  # the stream's own time, not the 5 s grace


async def test_a_chat_stream_running_past_the_grace_ends_with_an_error_event() -> None:
    stalled = Stall(after_chunks=2)  # the role and one content chunk, then silence
    with trio.fail_after(10):
        async with serving({"alpha": always(stalled)}, server={"shutdown_grace": GRACE}) as served:
            alpha = served.upstreams["alpha"]
            async with await served.connect() as client:
                await client.send(chat_request(chat_body(stream=True)))
                head = await client.until(b"\r\n\r\n")
                sent = await client.until(b"\n\n\r\n")
                began = trio.current_time()
                served.stop.set()
                rest = await client.until(b"\r\n0\r\n\r\n")  # a proper end of the body
                ended = trio.current_time() - began
                await client.assert_closed()
            await served.stopped.wait()
            await alpha.wait_for_disconnects(1)  # the upstream request was closed
    assert b"200" in head.split(b"\r\n")[0]
    *events, last = sse_data(sent + rest.removesuffix(b"\r\n0\r\n\r\n"))
    assert "[DONE]" not in events
    assert last == {
        "error": {
            "message": "the gateway is shutting down: the stream was cut short",
            "type": "server_error",
            "param": None,
            "code": "shutting_down",
        }
    }
    assert GRACE - 0.1 < ended < GRACE + 1.0


async def test_a_responses_stream_running_past_the_grace_ends_with_response_failed() -> None:
    stalled = Stall(after_chunks=2)
    body = json.dumps({"model": "vm", "input": "hi", "stream": True, "store": False}).encode()
    headers = {**AUTH, "content-type": "application/json"}
    with trio.fail_after(10):
        async with serving({"alpha": always(stalled)}, server={"shutdown_grace": GRACE}) as served:
            async with await served.connect() as client:
                await client.send(raw_request("POST", "/v1/responses", headers, body))
                await client.until(b"response.output_text.delta")
                served.stop.set()
                reply_rest = await client.until(b"\r\n0\r\n\r\n")
                await client.assert_closed()
            await served.stopped.wait()
    events = [payload for payload in sse_data(reply_rest) if isinstance(payload, dict)]
    assert events[-1]["type"] == "response.failed"
    assert events[-1]["response"]["status"] == "failed"
    assert "shutting down" in events[-1]["response"]["error"]["message"]
    assert not any(event["type"] == "response.completed" for event in events)


async def test_a_call_still_waiting_when_the_grace_ends_is_answered_503() -> None:
    with trio.fail_after(10):
        async with serving(
            {"alpha": always(Hang())},
            server={"shutdown_grace": GRACE},
            timeouts={"first_byte": 30},
        ) as served:
            alpha = served.upstreams["alpha"]
            async with await served.connect() as client:
                await client.send(chat_request())
                await alpha.wait_for_calls(1)
                began = trio.current_time()
                served.stop.set()
                reply = await client.reply()
                answered = trio.current_time() - began
                await client.assert_closed()
            await served.stopped.wait()
            await alpha.wait_for_disconnects(1)
    assert reply.status == 503
    error = reply.envelope()
    assert (error["type"], error["code"]) == ("server_error", "shutting_down")
    assert GRACE - 0.1 < answered < GRACE + 1.0


async def test_the_stop_is_bounded_whatever_the_upstreams_do() -> None:
    """A hanging call, a stalled stream, a stalled Responses stream and an idle connection,
    all at once: each gets its farewell as the grace ends, and serve() returns then."""

    def script(request: SimRequest) -> Hang | Stall:
        return Stall(after_chunks=2) if request.stream else Hang()

    responses = json.dumps({"model": "vm", "input": "hi", "stream": True}).encode()
    headers = {**AUTH, "content-type": "application/json"}
    with trio.fail_after(15):
        async with serving(
            {"alpha": script}, server={"shutdown_grace": GRACE}, timeouts={"first_byte": 30}
        ) as served:
            waiting, chat, responses_stream, idle = [
                await RawClient.connect(served.port) for _ in range(4)
            ]
            await waiting.send(chat_request())
            await chat.send(chat_request(chat_body(stream=True)))
            await responses_stream.send(raw_request("POST", "/v1/responses", headers, responses))
            await served.upstreams["alpha"].wait_for_calls(3)
            await chat.until(b"\r\n\r\n")
            await responses_stream.until(b"\r\n\r\n")
            took = await stop_and_time(served)
            answered = await waiting.reply()
            ends = [await chat.rest(), await responses_stream.rest(), await idle.rest()]
            for client in (waiting, chat, responses_stream, idle):
                await client.stream.aclose()
    assert took < GRACE + 1.0  # the farewells are written at once, not at GRACE + FAREWELL
    assert answered.status == 503
    assert b'"code":"shutting_down"' in ends[0] and ends[0].endswith(b"\r\n0\r\n\r\n")
    assert b"response.failed" in ends[1] and ends[1].endswith(b"\r\n0\r\n\r\n")
    assert ends[2] == b""


async def test_the_stop_is_bounded_when_a_client_stops_reading() -> None:
    big = Complete("x" * 8_000_000, usage=False)  # more than the socket buffers hold
    with trio.fail_after(20):
        async with serving({"alpha": always(big)}, server={"shutdown_grace": 0.2}) as served:
            sock = trio.socket.socket()
            sock.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_RCVBUF, 4096)
            await sock.connect(("127.0.0.1", served.port))
            client = RawClient(trio.SocketStream(sock))
            await client.send(chat_request())
            await client.until(b"\r\n\r\n")  # then it reads no more
            await trio.sleep(0.3)
            began = trio.current_time()
            served.stop.set()
            with trio.move_on_after(0.2 + FAREWELL + 1):
                await served.stopped.wait()
            took = trio.current_time() - began
            await client.stream.aclose()  # what lets a stuck stop end
            await served.stopped.wait()
    assert took < 0.2 + FAREWELL + 0.5
