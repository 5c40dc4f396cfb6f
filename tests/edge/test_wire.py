"""edge.wire serving requests: replies byte for byte, keep-alive, pipelining, refusals, errors.

Every test runs the real server on 127.0.0.1:0 and speaks to it with exact bytes.
"""

from __future__ import annotations

import re
import time
from email.utils import parsedate_to_datetime

import pytest
import trio

from edge.wire import Reply, Request
from edge.wire.writing import head
from tests.edge.wire_harness import Answer, chunked, raw_request, serving


class Recorder:
    """A handler that records each request and answers with its body (or a fixed reply)."""

    def __init__(self, reply: Reply | None = None, delay: float = 0.0) -> None:
        self.requests: list[Request] = []
        self.reply = reply
        self.delay = delay

    async def __call__(self, request: Request) -> Answer:
        self.requests.append(request)
        if self.delay:
            await trio.sleep(self.delay)
        if self.reply is not None:
            return self.reply
        return Reply(200, {"content-type": "text/plain"}, b"echo:" + request.body)


# -- plain requests ----------------------------------------------------------------------------


async def test_get_reply_is_exact() -> None:
    handler = Recorder(Reply(200, {"content-type": "text/plain", "x-baton-route": "r"}, b"hi"))
    with trio.fail_after(5):
        async with serving(handler) as served, await served.connect() as client:
            await client.send(
                b"GET /v1/models?a=1&b=&a=2 HTTP/1.1\r\nHost: test\r\nX-Twice: 1\r\n"
                b"x-twice: 2\r\nAuthorization: Bearer k\r\n\r\n"
            )
            reply = await client.reply()
    date = reply.headers.pop("date")
    assert re.fullmatch(r"req_[0-9a-f]{24}", reply.headers.pop("x-request-id"))
    assert reply.raw.startswith(b"HTTP/1.1 200 OK\r\n")
    assert reply.headers == {
        "content-type": "text/plain",
        "x-baton-route": "r",
        "content-length": "2",
    }
    assert reply.body == b"hi"
    assert date.endswith(" GMT")
    assert abs(parsedate_to_datetime(date).timestamp() - time.time()) < 5
    [seen] = handler.requests
    assert (seen.method, seen.path, seen.query) == ("GET", "/v1/models", "a=1&b=&a=2")
    assert dict(seen.args) == {"a": "1", "b": ""}
    assert seen.headers == {"host": "test", "x-twice": "1, 2", "authorization": "Bearer k"}
    assert (seen.body, seen.http11, seen.keep_alive, seen.upgrade) == (b"", True, True, False)
    assert "Bearer" not in repr(seen)


async def test_percent_encoded_path_is_decoded() -> None:
    handler = Recorder()
    with trio.fail_after(5):
        async with serving(handler) as served, await served.connect() as client:
            await client.send(raw_request("GET", "/v1/a%20b?q=%20"))
            assert (await client.reply()).status == 200
    assert (handler.requests[0].path, handler.requests[0].query) == ("/v1/a b", "q=%20")


async def test_post_content_length_body_is_delivered_whole() -> None:
    handler = Recorder()
    body = b'{"model":"m","messages":[]}' * 20
    with trio.fail_after(5):
        async with serving(handler) as served, await served.connect() as client:
            await client.send(raw_request("POST", "/v1/chat/completions", body=body[:100]))
            first = await client.reply()
            await client.send(raw_request("POST", "/v1/chat/completions", body=body)[:-50])
            await trio.sleep(0.05)
            assert len(handler.requests) == 1  # not before the whole body is in
            await client.send(body[-50:])
            second = await client.reply()
    assert first.body == b"echo:" + body[:100]
    assert second.body == b"echo:" + body
    assert second.headers["content-length"] == str(len(b"echo:" + body))


async def test_post_chunked_body_is_delivered_whole() -> None:
    handler = Recorder()
    head_bytes = raw_request("POST", "/v1/x", {"transfer-encoding": "chunked"})
    with trio.fail_after(5):
        async with serving(handler) as served, await served.connect() as client:
            await client.send(head_bytes + b"5\r\nhello\r\n")
            await trio.sleep(0.05)
            assert handler.requests == []
            await client.send(b"1;name=value\r\n \r\n6\r\nworld!\r\n0\r\n\r\n")
            reply = await client.reply()
    assert reply.body == b"echo:hello world!"
    assert handler.requests[0].body == b"hello world!"


async def test_head_gets_the_length_but_no_body() -> None:
    handler = Recorder(Reply(200, {"content-type": "text/plain"}, b"twelve bytes"))
    with trio.fail_after(5):
        async with serving(handler) as served, await served.connect() as client:
            await client.send(raw_request("HEAD", "/v1/models"))
            reply = await client.reply(to_head=True)
            await client.send(raw_request("GET", "/v1/models"))
            after = await client.reply()  # would read the HEAD's body if one were sent
    assert reply.headers["content-length"] == "12"
    assert reply.raw.endswith(b"\r\n\r\n")
    assert after.raw.startswith(b"HTTP/1.1 200 OK\r\n")
    assert after.body == b"twelve bytes"


# -- keep-alive and closing --------------------------------------------------------------------


async def test_keep_alive_serves_two_requests_on_one_connection() -> None:
    handler = Recorder()
    with trio.fail_after(5):
        async with serving(handler) as served, await served.connect() as client:
            await client.send(raw_request("POST", "/one", body=b"1"))
            first = await client.reply()
            await client.send(raw_request("POST", "/two", body=b"2"))
            second = await client.reply()
    assert "connection" not in first.headers
    assert (first.body, second.body) == (b"echo:1", b"echo:2")
    assert [r.path for r in handler.requests] == ["/one", "/two"]


async def test_connection_close_request_is_answered_then_closed() -> None:
    handler = Recorder()
    with trio.fail_after(5):
        async with serving(handler) as served, await served.connect() as client:
            await client.send(raw_request("GET", "/", {"connection": "close"}))
            reply = await client.reply()
            await client.assert_closed()
    assert reply.headers["connection"] == "close"
    assert handler.requests[0].keep_alive is False


async def test_http10_request_is_answered_then_closed() -> None:
    handler = Recorder()
    with trio.fail_after(5):
        async with serving(handler) as served, await served.connect() as client:
            await client.send(b"GET /old HTTP/1.0\r\n\r\n")
            reply = await client.reply()
            await client.assert_closed()
    assert reply.status == 200
    assert reply.headers["connection"] == "close"
    assert (handler.requests[0].http11, handler.requests[0].keep_alive) == (False, False)


async def test_idle_connection_is_closed_after_keepalive_timeout() -> None:
    with trio.fail_after(5):
        async with serving(Recorder(), keepalive_timeout=0.2) as served:
            async with await served.connect() as client:
                await client.send(raw_request())
                await client.reply()
                start = trio.current_time()
                await client.assert_closed()
                after_reply = trio.current_time() - start
            async with await served.connect() as client:
                start = trio.current_time()
                await client.assert_closed()  # never sent a byte
                never_spoke = trio.current_time() - start
    assert 0.15 < after_reply < 1.0
    assert 0.15 < never_spoke < 1.0


async def test_request_stalled_midway_is_closed_after_read_timeout() -> None:
    handler = Recorder()
    with trio.fail_after(5):
        async with serving(handler, read_timeout=0.2) as served, await served.connect() as client:
            await client.send(raw_request("POST", "/", body=b"0123456789")[:-4])
            start = trio.current_time()
            await client.assert_closed()
            elapsed = trio.current_time() - start
    assert 0.15 < elapsed < 1.0
    assert handler.requests == []


# -- pipelining and fragmentation --------------------------------------------------------------


async def test_pipelined_requests_are_answered_in_order() -> None:
    handler = Recorder(delay=0.05)  # the second request arrives while the first is handled
    with trio.fail_after(5):
        async with serving(handler) as served, await served.connect() as client:
            await client.send(
                raw_request("POST", "/one", body=b"first")
                + raw_request("POST", "/two", body=b"second")
            )
            first = await client.reply()
            second = await client.reply()
            await client.send(raw_request("POST", "/three", body=b"third"))
            third = await client.reply()
    assert [first.body, second.body, third.body] == [b"echo:first", b"echo:second", b"echo:third"]


async def test_request_arriving_while_one_is_handled_waits_its_turn() -> None:
    started, release = trio.Event(), trio.Event()
    order: list[str] = []

    async def handler(request: Request) -> Answer:
        order.append(f"start {request.path}")
        if request.path == "/slow":
            started.set()
            await release.wait()
        order.append(f"end {request.path}")
        return Reply(200, {}, request.path.encode())

    with trio.fail_after(5):
        async with serving(handler) as served, await served.connect() as client:
            await client.send(raw_request("GET", "/slow"))
            await started.wait()
            await client.send(raw_request("GET", "/fast"))  # read by the connection's watcher
            await trio.sleep(0.05)
            release.set()
            first = await client.reply()
            second = await client.reply()
    assert (first.body, second.body) == (b"/slow", b"/fast")
    assert order == ["start /slow", "end /slow", "start /fast", "end /fast"]


@pytest.mark.parametrize(
    "whole",
    [
        raw_request("POST", "/v1/x?y=1", {"content-type": "application/json"}, b'{"hello":"w"}'),
        raw_request("POST", "/v1/x?y=1", {"transfer-encoding": "chunked"}) + chunked(b"hel", b"lo"),
    ],
    ids=["content-length", "chunked"],
)
async def test_request_split_byte_by_byte(whole: bytes) -> None:
    handler = Recorder()
    with trio.fail_after(10):
        async with serving(handler) as served, await served.connect() as client:
            for index in range(len(whole)):
                await client.send(whole[index : index + 1])
                await trio.sleep(0.001)
            reply = await client.reply()
    [seen] = handler.requests
    assert (seen.method, seen.path, seen.query) == ("POST", "/v1/x", "y=1")
    assert reply.body == b"echo:" + seen.body
    assert seen.body in (b'{"hello":"w"}', b"hello")


# -- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\nHost test\r\n\r\n",
        b"GET / HTTP/1.1\nHost: test\n\n",
        b"GET / HTTP/1.1\r\nHost: test\r\nX-Folded: a\r\n b\r\n\r\n",
        b"NOT A REQUEST\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
        b"POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\nabc",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\nContent-Length: 3\r\n\r\nabc",
        b"POST / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    ],
    ids=[
        "header-without-colon",
        "bare-lf",
        "obs-fold",
        "garbage",
        "content-length-and-chunked",
        "conflicting-content-lengths",
        "repeated-content-length",
        "signed-content-length",
        "chunked-not-last",
        "identity-coding",
        "space-before-colon",
        "bad-chunk-size",
    ],
)
async def test_malformed_request_gets_400_envelope_and_close(data: bytes) -> None:
    handler = Recorder()
    with trio.fail_after(5):
        async with serving(handler) as served:
            async with await served.connect() as client:
                await client.send(data)
                reply = await client.reply()
                await client.assert_closed()
            await served.assert_serving()
    assert (reply.status, reply.headers["connection"]) == (400, "close")
    error = reply.envelope()
    assert (error["type"], error["code"]) == ("invalid_request_error", "invalid_request")
    assert handler.requests == []


async def test_declared_length_over_max_body_is_refused_before_the_body() -> None:
    handler = Recorder()
    with trio.fail_after(5):
        async with serving(handler, max_body=1000) as served, await served.connect() as client:
            await client.send(raw_request("POST", "/", {"content-length": "1001"}))
            reply = await client.reply()  # no byte of the body was sent
            await client.assert_closed()
    assert (reply.status, reply.headers["connection"]) == (413, "close")
    assert reply.envelope()["code"] == "request_too_large"
    assert handler.requests == []


async def test_body_of_exactly_max_body_is_served() -> None:
    handler = Recorder()
    with trio.fail_after(5):
        async with serving(handler, max_body=1000) as served, await served.connect() as client:
            await client.send(raw_request("POST", "/", body=b"x" * 1000))
            reply = await client.reply()
    assert reply.status == 200
    assert len(handler.requests[0].body) == 1000


async def test_chunked_body_growing_past_max_body_is_refused() -> None:
    handler = Recorder()
    with trio.fail_after(5):
        async with serving(handler, max_body=1000) as served, await served.connect() as client:
            await client.send(raw_request("POST", "/", {"transfer-encoding": "chunked"}))
            await client.send(b"258\r\n" + b"a" * 600 + b"\r\n")
            await trio.sleep(0.05)
            await client.send(b"258\r\n" + b"b" * 600 + b"\r\n")  # 1200 > 1000, not yet ended
            reply = await client.reply()
            await client.assert_closed()
    assert (reply.status, reply.headers["connection"]) == (413, "close")
    assert reply.envelope()["code"] == "request_too_large"
    assert handler.requests == []


async def test_head_over_64k_is_refused_with_431() -> None:
    handler = Recorder()
    with trio.fail_after(5):
        async with serving(handler) as served, await served.connect() as client:
            await client.send(b"GET / HTTP/1.1\r\nHost: test\r\nX-Big: " + b"a" * (70 * 1024))
            reply = await client.reply()
            await client.assert_closed()
    assert (reply.status, reply.headers["connection"]) == (431, "close")
    error = reply.envelope()
    assert (error["type"], error["code"]) == (
        "invalid_request_error",
        "request_header_fields_too_large",
    )
    assert handler.requests == []


async def test_complete_head_over_64k_is_refused_with_431() -> None:
    handler = Recorder()
    big = b"GET / HTTP/1.1\r\nHost: test\r\nX-Big: " + b"a" * (60 * 1024)
    with trio.fail_after(5):
        async with serving(handler) as served, await served.connect() as client:
            await client.send(big)
            await trio.sleep(0.1)
            await client.send(b"a" * (10 * 1024) + b"\r\n\r\n")  # 70 KiB in all, then ended
            reply = await client.reply()
    assert reply.status == 431, (reply.status, len(handler.requests[0].headers["x-big"]))


async def test_second_request_head_over_64k_is_refused_with_431() -> None:
    with trio.fail_after(5):
        async with serving(Recorder()) as served, await served.connect() as client:
            await client.send(raw_request())
            await client.reply()
            await client.send(b"GET / HTTP/1.1\r\nHost: test\r\nX-Big: " + b"a" * (60 * 1024))
            await trio.sleep(0.1)
            await client.send(b"a" * (10 * 1024))  # 70 KiB of head, not ended
            with trio.fail_after(1):
                reply = await client.reply()
    assert reply.status == 431


async def test_expect_100_continue_before_the_body() -> None:
    handler = Recorder()
    with trio.fail_after(5):
        async with serving(handler) as served, await served.connect() as client:
            await client.send(
                raw_request("POST", "/", {"expect": "100-continue", "content-length": "5"})
            )
            interim = await client.until(b"\r\n\r\n")
            assert handler.requests == []
            await client.send(b"hello")
            reply = await client.reply()
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert (reply.status, reply.body) == (200, b"echo:hello")


async def test_expect_100_continue_with_body_too_large_gets_413_only() -> None:
    handler = Recorder()
    with trio.fail_after(5):
        async with serving(handler, max_body=10) as served, await served.connect() as client:
            await client.send(
                raw_request("POST", "/", {"expect": "100-continue", "content-length": "11"})
            )
            reply = await client.reply()
            await client.assert_closed()
    assert reply.status == 413
    assert handler.requests == []


async def test_trailer_fields_do_not_become_headers() -> None:
    handler = Recorder()
    with trio.fail_after(5):
        async with serving(handler) as served, await served.connect() as client:
            await client.send(
                raw_request("POST", "/", {"transfer-encoding": "chunked"})
                + b"3\r\nabc\r\n0\r\nAuthorization: Bearer smuggled\r\n\r\n"
            )
            reply = await client.reply()
    assert reply.status in (200, 400)
    assert [seen.headers.get("authorization") for seen in handler.requests] == [None]


# -- errors in the handler ---------------------------------------------------------------------


async def test_handler_exception_gets_500_envelope_and_server_serves_on() -> None:
    async def handler(request: Request) -> Answer:
        raise RuntimeError("a bug in a route")

    with trio.fail_after(5):
        async with serving(handler) as served:
            async with await served.connect() as client:
                await client.send(raw_request("POST", "/v1/chat/completions", body=b"{}"))
                reply = await client.reply()
                await client.assert_closed()
            await served.assert_serving()
    assert (reply.status, reply.headers["connection"]) == (500, "close")
    assert reply.envelope() == {
        "message": "internal gateway error",
        "type": "server_error",
        "param": None,
        "code": "internal_error",
    }
    assert b"a bug in a route" not in reply.raw


def test_head_refuses_a_header_value_with_a_line_break() -> None:
    with pytest.raises(ValueError, match="line break"):
        head(200, {"x-a": "1\r\nx-injected: yes"}, 0, True)
    with pytest.raises(ValueError, match="line break"):
        head(200, {"x-a": "1\nx-injected: yes"}, 0, True)


async def test_header_with_line_break_is_never_written_and_server_serves_on() -> None:
    async def handler(request: Request) -> Answer:
        return Reply(200, {"x-a": "1\r\nx-injected: yes"}, b"hi")

    with trio.fail_after(5):
        async with serving(handler) as served:
            async with await served.connect() as client:
                await client.send(raw_request())
                data = await client.rest()
            assert b"x-injected" not in data
            await served.assert_serving()
            assert data.startswith(b"HTTP/1.1 500 ")
