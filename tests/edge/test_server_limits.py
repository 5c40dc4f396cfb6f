"""The size limits of the served gateway, byte for byte: a body of exactly
`server.max_body_bytes` is served, one over it is a 413 in the OpenAI envelope (refused on its
declared length before any of it is read, or as soon as a chunked body grows past it), a
request head over 64 KiB is Hypercorn's own 431; after each the connection is closed and the
gateway serves on."""

from __future__ import annotations

import trio

from tests.edge.raw_http import Parsed, raw_request
from tests.edge.served import AUTH, Served, chat_body, chat_request, serving

LIMIT = 1000


def body_of_size(size: int) -> bytes:
    """A valid Chat request body of exactly `size` bytes (its content pads it)."""
    bare = chat_body(content="")
    body = chat_body(content="x" * (size - len(bare)))
    assert len(body) == size
    return body


def assert_too_large(reply: Parsed) -> None:
    assert reply.status == 413, reply.raw
    error = reply.envelope()
    assert (error["type"], error["code"]) == ("invalid_request_error", "request_too_large")
    assert str(LIMIT) in error["message"]


async def assert_no_call_reached_upstream(served: Served) -> None:
    assert served.upstreams["alpha"].calls == []


async def test_a_body_of_exactly_the_limit_is_served() -> None:
    with trio.fail_after(10):
        async with serving(server={"max_body_bytes": LIMIT}) as served:
            async with await served.connect() as client:
                await client.send(chat_request(body_of_size(LIMIT)))
                reply = await client.reply()
            assert reply.status == 200, reply.raw
            [call] = served.upstreams["alpha"].calls
            assert len(call.json["messages"][0]["content"]) > LIMIT - 100


async def test_a_declared_length_over_the_limit_is_refused_before_the_body() -> None:
    with trio.fail_after(10):
        async with serving(server={"max_body_bytes": LIMIT}) as served:
            async with await served.connect() as client:
                head = chat_request(b"", {"content-length": str(LIMIT + 1)})
                await client.send(head)  # not one byte of the body follows
                reply = await client.reply()
                await client.assert_closed()
            assert_too_large(reply)
            await assert_no_call_reached_upstream(served)
            await served.assert_serving()


async def test_a_declared_length_over_the_limit_sent_whole_is_refused() -> None:
    with trio.fail_after(10):
        async with serving(server={"max_body_bytes": LIMIT}) as served:
            async with await served.connect() as client:
                await client.send(chat_request(body_of_size(LIMIT + 1)))
                assert_too_large(await client.reply())
            await assert_no_call_reached_upstream(served)
            await served.assert_serving()


async def test_a_chunked_body_growing_past_the_limit_is_refused() -> None:
    headers = {**AUTH, "content-type": "application/json", "transfer-encoding": "chunked"}
    with trio.fail_after(10):
        async with serving(server={"max_body_bytes": LIMIT}) as served:
            async with await served.connect() as client:
                await client.send(raw_request("POST", "/v1/chat/completions", headers))
                await client.send(b"258\r\n" + b"a" * 600 + b"\r\n")
                await trio.sleep(0.05)
                await client.send(b"258\r\n" + b"b" * 600 + b"\r\n")  # 1200 > 1000, not ended
                reply = await client.reply()
                await client.assert_closed()
            assert_too_large(reply)
            await assert_no_call_reached_upstream(served)
            await served.assert_serving()


async def test_expect_100_continue_with_a_body_over_the_limit_gets_413() -> None:
    headers = {**AUTH, "expect": "100-continue", "content-length": str(LIMIT + 1)}
    with trio.fail_after(10):
        async with serving(server={"max_body_bytes": LIMIT}) as served:
            async with await served.connect() as client:
                await client.send(raw_request("POST", "/v1/chat/completions", headers))
                interim = await client.reply()  # Hypercorn says 100 before the app decides
                reply = await client.reply()
                await client.assert_closed()
            assert interim.status == 100
            assert_too_large(reply)
            await served.assert_serving()


async def test_a_head_over_64k_still_incomplete_is_refused_with_431() -> None:
    with trio.fail_after(10):
        async with serving() as served:
            async with await served.connect() as client:
                await client.send(b"GET /health HTTP/1.1\r\nHost: test\r\nX-Big: " + b"a" * 60_000)
                await trio.sleep(0.05)
                await client.send(b"a" * 10_000)  # 70 kB of head and no end to it
                reply = await client.reply()
                await client.assert_closed()
            await served.assert_serving()
    assert (reply.status, reply.headers["connection"], reply.body) == (431, "close", b"")


async def test_a_whole_head_of_200k_is_refused_with_431() -> None:
    """Hypercorn refuses a head once more than 64 KiB of it is buffered without its end; it
    reads 64 KiB at a time, so a whole head a little over 64 KiB can still be parsed, while
    one this size cannot."""
    big = raw_request("GET", "/health", {"x-big": "a" * 200_000})
    with trio.fail_after(10):
        async with serving() as served:
            async with await served.connect() as client:
                await client.send(big)
                reply = await client.reply()
                await client.assert_closed()
            await served.assert_serving()
    assert (reply.status, reply.headers["connection"]) == (431, "close")
