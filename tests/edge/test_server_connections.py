"""Connections to the served gateway, byte for byte: kept alive between requests, answered
then closed on `Connection: close` and HTTP/1.0, pipelined requests answered in order,
`Expect: 100-continue` honoured, a kept connection closed once idle for the keep-alive
timeout (whether or not it served a request first) and released at once when its client
closes it, and a request framed ambiguously (the stuff of request smuggling) refused."""

from __future__ import annotations

import json
import os

import pytest
import trio

from actors.upstream_client import SHARDS
from edge.simulator import Complete, SimRequest, always
from tests.edge.raw_http import RawClient, raw_request
from tests.edge.served import AUTH, chat_body, chat_request, serving


def content_of(body: bytes) -> str:
    return str(json.loads(body)["choices"][0]["message"]["content"])


def echo(request: SimRequest) -> Complete:
    """An upstream answering each call with the text it was sent."""
    text = request.json["messages"][0]["content"]
    return Complete(f"echo {text}", delay=0.05)


async def test_two_requests_on_one_connection() -> None:
    with trio.fail_after(10):
        async with serving({"alpha": echo}) as served, await served.connect() as client:
            await client.send(chat_request(chat_body(content="one")))
            first = await client.reply()
            await client.send(chat_request(chat_body(content="two")))
            second = await client.reply()
    assert "connection" not in first.headers
    assert (content_of(first.body), content_of(second.body)) == ("echo one", "echo two")


@pytest.mark.parametrize(
    "request_bytes",
    [
        raw_request("GET", "/health", {"connection": "close"}),
        b"GET /health HTTP/1.0\r\n\r\n",
        chat_request(headers={"connection": "close"}),
        chat_request(version="HTTP/1.0"),
    ],
    ids=["connection-close", "http-1.0", "call-connection-close", "call-http-1.0"],
)
async def test_a_request_that_asks_to_close_is_answered_then_closed(request_bytes: bytes) -> None:
    with trio.fail_after(10):
        async with serving() as served:
            async with await served.connect() as client:
                await client.send(request_bytes)
                reply = await client.reply()
                await client.assert_closed()
            await served.assert_serving()
    assert reply.status == 200, reply.raw
    assert reply.headers["connection"] == "close"


async def test_pipelined_requests_are_answered_in_order() -> None:
    with trio.fail_after(10):
        async with serving({"alpha": echo}) as served, await served.connect() as client:
            await client.send(
                chat_request(chat_body(content="first"))
                + raw_request("GET", "/health")
                + chat_request(chat_body(content="third"))
            )
            first, second, third = [await client.reply() for _ in range(3)]
            await client.send(chat_request(chat_body(content="fourth")))
            fourth = await client.reply()
    assert content_of(first.body) == "echo first"
    assert json.loads(second.body) == {"status": "ok"}
    assert content_of(third.body) == "echo third"
    assert content_of(fourth.body) == "echo fourth"


async def test_expect_100_continue_before_the_body() -> None:
    body = chat_body()
    headers = {**AUTH, "expect": "100-continue", "content-length": str(len(body))}
    with trio.fail_after(10):
        async with serving() as served, await served.connect() as client:
            await client.send(raw_request("POST", "/v1/chat/completions", headers))
            interim = await client.reply()
            assert served.upstreams["alpha"].calls == []
            await client.send(body)
            reply = await client.reply()
    assert (interim.status, interim.body) == (100, b"")
    assert reply.status == 200
    assert content_of(reply.body) == "hello"


@pytest.mark.parametrize("served_first", [False, True], ids=["never-spoke", "after-a-request"])
async def test_an_idle_connection_is_closed_after_the_keepalive_timeout(
    served_first: bool,
) -> None:
    with trio.fail_after(10):
        async with serving(
            {"alpha": always(Complete("hi"))}, server={"keepalive_timeout": 0.3}
        ) as served:
            async with await RawClient.connect(served.port) as client:
                if served_first:
                    await client.send(chat_request())
                    assert (await client.reply()).status == 200
                start = trio.current_time()
                await client.assert_closed()
                idle = trio.current_time() - start
            await served.assert_serving()
    assert 0.25 < idle < 2.0


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_connections_the_clients_close_are_released_at_once() -> None:
    """Kept-alive connections (idle after a reply, or never used) that their clients close
    give their sockets back at once, not when the keep-alive timeout runs out."""
    with trio.fail_after(10):
        async with serving() as served:
            for _ in range(2 * SHARDS):  # every upstream client's pooled connection is open now
                await served.assert_serving()
            before = open_descriptors()
            clients = [await served.connect() for _ in range(10)]
            for client in clients[:8]:
                await client.send(chat_request())
                assert (await client.reply()).status == 200
            assert open_descriptors() > before + len(clients)  # both ends, in-process
            for client in clients:
                await client.stream.aclose()
            with trio.move_on_after(1):
                while open_descriptors() > before:
                    await trio.sleep(0.02)
            assert open_descriptors() <= before
            await served.assert_serving()


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"POST /health HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"POST /health HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
        (b"POST /health HTTP/1.1\r\nContent-Length: +3\r\n\r\nabc", 400),
        (b"POST /health HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400),
        (b"POST /health HTTP/1.1\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 501),
        (b"POST /health HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n", 400),
        (b"GET /health HTTP/1.1\r\nHost test\r\n\r\n", 400),
        (b"NOT A REQUEST\r\n\r\n", 400),
    ],
    ids=[
        "content-length-and-chunked",
        "conflicting-content-lengths",
        "signed-content-length",
        "space-before-colon",
        "chunked-not-last",
        "bad-chunk-size",
        "header-without-colon",
        "garbage",
    ],
)
async def test_a_request_framed_ambiguously_is_refused_and_closed(data: bytes, status: int) -> None:
    """Hypercorn's (h11's) own refusal, before the app: an empty body, not an envelope."""
    with trio.fail_after(10):
        async with serving() as served:
            async with await served.connect() as client:
                await client.send(data)
                reply = await client.reply()
                await client.assert_closed()
            await served.assert_serving()
    assert (reply.status, reply.headers["connection"], reply.body) == (status, "close", b"")
