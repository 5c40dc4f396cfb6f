"""edge.wire handing a connection over (TakeOver, for WebSocket) and stopping gracefully."""

from __future__ import annotations

import pytest
import trio

from edge.wire import Reply, Request, StreamReply, TakeOver
from tests.edge.wire_harness import Answer, Pieces, raw_request, serving

UPGRADE = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version": "13",
}


async def ok(request: Request) -> Answer:
    return Reply(200, {}, b"ok")


class Echo:
    """A TakeOver's `serve`: reads until `want` bytes came, answers, and returns."""

    def __init__(self, want: int) -> None:
        self.want = want
        self.received = b""
        self.requests: list[Request] = []
        self.done = trio.Event()

    async def handler(self, request: Request) -> Answer:
        self.requests.append(request)
        return TakeOver(self.serve)

    async def serve(self, stream: trio.abc.Stream, closing: trio.Event) -> None:
        while len(self.received) < self.want:
            data = await stream.receive_some(65536)
            assert data, self.received
            self.received += data
        await stream.send_all(b"taken over")
        self.done.set()


# -- TakeOver ----------------------------------------------------------------------------------


@pytest.mark.parametrize("split", [False, True], ids=["one-write", "head-in-two-writes"])
async def test_take_over_replays_the_request_then_what_followed(split: bool) -> None:
    head = raw_request("GET", "/v1/responses?x=1", UPGRADE)
    replayed = (
        b"GET /v1/responses?x=1 HTTP/1.1\r\nhost: test\r\nconnection: Upgrade\r\n"
        b"upgrade: websocket\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"sec-websocket-version: 13\r\n\r\n"
    )
    echo = Echo(len(replayed) + len(b"sent-with-head") + len(b"sent-later"))
    with trio.fail_after(5):
        async with serving(echo.handler) as served, await served.connect() as client:
            if split:
                await client.send(head[:20])
                await trio.sleep(0.05)
            await client.send(head[20 if split else 0 :] + b"sent-with-head")
            await trio.sleep(0.05)
            await client.send(b"sent-later")
            answer = await client.rest()  # the connection ends when serve returns
    assert [r.upgrade for r in echo.requests] == [True]
    assert echo.received == replayed + b"sent-with-head" + b"sent-later"
    assert answer == b"taken over"


async def test_upgrade_refused_with_a_reply_gets_it_and_a_close() -> None:
    async def handler(request: Request) -> Answer:
        return Reply(403, {"content-type": "text/plain"}, b"no")

    with trio.fail_after(5):
        async with serving(handler) as served, await served.connect() as client:
            await client.send(raw_request("GET", "/v1/responses", UPGRADE))
            reply = await client.reply()
            await client.assert_closed()
    assert (reply.status, reply.body, reply.headers["connection"]) == (403, b"no", "close")


async def test_take_over_replays_the_target_as_sent() -> None:
    echo = Echo(len(b"GET /v1/a%20b HTTP/1.1\r\n"))
    with trio.fail_after(5):
        async with serving(echo.handler) as served, await served.connect() as client:
            await client.send(raw_request("GET", "/v1/a%20b", UPGRADE))
            await echo.done.wait()
    assert echo.received.startswith(b"GET /v1/a%20b HTTP/1.1\r\n"), echo.received


@pytest.mark.parametrize("where", ["handler", "serve"])
async def test_take_over_failing_leaves_the_server_serving(where: str) -> None:
    async def serve(stream: trio.abc.Stream, closing: trio.Event) -> None:
        raise RuntimeError("a bug in serve")

    async def handler(request: Request) -> Answer:
        if where == "handler":
            raise RuntimeError("a bug in the handler")
        return TakeOver(serve)

    with trio.fail_after(5):
        async with serving(handler) as served:
            async with await served.connect() as client:
                await client.send(raw_request("GET", "/v1/responses", UPGRADE))
                await client.rest()
            await served.assert_serving()


# -- graceful stop -----------------------------------------------------------------------------


async def test_stop_closes_idle_connections_at_once_and_returns() -> None:
    with trio.fail_after(5):
        async with serving(ok, keepalive_timeout=60, graceful_timeout=5) as served:
            async with await served.connect() as client:
                await client.send(raw_request())
                await client.reply()
                start = trio.current_time()
                served.stop.set()
                await client.assert_closed()
                await served.done.wait()
                elapsed = trio.current_time() - start
            with pytest.raises(OSError):  # nothing listens any more
                await trio.open_tcp_stream("127.0.0.1", served.port)
    assert elapsed < 1.0


async def test_stop_lets_a_stream_in_flight_finish() -> None:
    finish = trio.Event()
    pieces = Pieces(b"data: 1\n\n", finish, b"data: 2\n\n")

    async def handler(request: Request) -> Answer:
        return StreamReply(200, {"content-type": "text/event-stream"}, pieces)

    with trio.fail_after(5):
        async with serving(handler, graceful_timeout=5) as served:
            async with await served.connect() as idle, await served.connect() as busy:
                await busy.send(raw_request("GET", "/v1/stream"))
                await busy.until(b"data: 1\n\n\r\n")
                await idle.send(raw_request("GET", "/alive"))
                await idle.reply()
                served.stop.set()
                await idle.assert_closed()
                with pytest.raises(OSError):  # no new connections
                    await trio.open_tcp_stream("127.0.0.1", served.port)
                assert not served.done.is_set()
                finish.set()
                rest = await busy.rest()
                await served.done.wait()
    assert rest == b"9\r\ndata: 2\n\n\r\n0\r\n\r\n"
    assert pieces.close_calls == 1


async def test_stop_cancels_a_stream_still_running_after_graceful_timeout() -> None:
    pieces = Pieces(b"data: 1\n\n", None)

    async def handler(request: Request) -> Answer:
        return StreamReply(200, {"content-type": "text/event-stream"}, pieces)

    with trio.fail_after(5):
        async with serving(handler, graceful_timeout=0.3) as served:
            async with await served.connect() as client:
                await client.send(raw_request("GET", "/v1/stream"))
                await client.until(b"data: 1\n\n\r\n")
                start = trio.current_time()
                served.stop.set()
                rest = await client.rest()
                await served.done.wait()
                elapsed = trio.current_time() - start
    assert rest == b""  # cut: no last chunk, so the client knows the stream did not end
    assert 0.25 < elapsed < 1.5
    assert pieces.cancelled
    assert pieces.close_calls == 1


async def test_stop_lets_a_pending_handler_answer_then_closes() -> None:
    started, release = trio.Event(), trio.Event()

    async def handler(request: Request) -> Answer:
        started.set()
        await release.wait()
        return Reply(200, {}, b"late")

    with trio.fail_after(5):
        async with serving(handler, graceful_timeout=5) as served, await served.connect() as client:
            await client.send(raw_request("GET", "/slow"))
            await started.wait()
            served.stop.set()
            await trio.sleep(0.05)
            release.set()
            reply = await client.reply()
            await client.assert_closed()
            await served.done.wait()
    assert reply.body == b"late"


async def test_reply_finished_during_stop_says_connection_close() -> None:
    started, release = trio.Event(), trio.Event()

    async def handler(request: Request) -> Answer:
        started.set()
        await release.wait()
        return Reply(200, {}, b"late")

    with trio.fail_after(5):
        async with serving(handler, graceful_timeout=5) as served, await served.connect() as client:
            await client.send(raw_request("GET", "/slow"))
            await started.wait()
            served.stop.set()
            await trio.sleep(0.05)
            release.set()
            reply = await client.reply()
    assert reply.headers.get("connection") == "close", reply.headers


async def test_stop_is_bounded_even_when_a_stream_close_hangs() -> None:
    unstick = trio.Event()  # set when the test ends, so that it cannot hang

    class Stuck(Pieces):
        async def aclose(self) -> None:
            await super().aclose()
            await unstick.wait()

    pieces = Stuck(b"data: 1\n\n", None)

    async def handler(request: Request) -> Answer:
        return StreamReply(200, {"content-type": "text/event-stream"}, pieces)

    with trio.fail_after(5):
        async with serving(handler, graceful_timeout=0.2) as served:
            async with await served.connect() as client:
                await client.send(raw_request("GET", "/v1/stream"))
                await client.until(b"data: 1\n\n\r\n")
                served.stop.set()
                try:
                    with trio.fail_after(2):
                        await served.done.wait()
                finally:
                    unstick.set()


async def test_after_the_grace_a_stream_ends_with_its_own_error_event() -> None:
    """The graceful stop's last word: a stream whose producer can say goodbye in its own
    protocol (baton's Chat and Responses streams can) ends with that, then a proper end."""

    class Farewell(Pieces):
        def farewell(self) -> bytes:
            return b'data: {"error": {"code": "shutting_down"}}\n\n'

    pieces = Farewell(b"data: 1\n\n", None)

    async def handler(request: Request) -> Answer:
        return StreamReply(200, {"content-type": "text/event-stream"}, pieces)

    with trio.fail_after(5):
        async with serving(handler, graceful_timeout=0.3) as served:
            async with await served.connect() as client:
                await client.send(raw_request("GET", "/v1/stream"))
                await client.until(b"data: 1\n\n\r\n")
                served.stop.set()
                rest = await client.rest()
                await served.done.wait()
    farewell = b'data: {"error": {"code": "shutting_down"}}\n\n'
    assert rest == b"%x\r\n%b\r\n0\r\n\r\n" % (len(farewell), farewell)
    assert pieces.close_calls == 1


async def test_after_the_grace_a_call_still_waiting_is_answered_503() -> None:
    started = trio.Event()
    cancelled: list[bool] = []

    async def handler(request: Request) -> Answer:
        started.set()
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            cancelled.append(True)
            raise
        raise AssertionError("unreachable")

    with trio.fail_after(5):
        async with serving(handler, graceful_timeout=0.2) as served:
            async with await served.connect() as client:
                await client.send(raw_request("POST", "/v1/chat/completions", body=b"{}"))
                await started.wait()
                served.stop.set()
                reply = await client.reply()
                await served.done.wait()
    assert reply.status == 503
    assert reply.envelope()["code"] == "shutting_down"
    assert reply.headers.get("connection") == "close"
    assert cancelled == [True]


async def test_a_stream_made_as_the_grace_ran_out_is_closed_not_dropped() -> None:
    """The handler's last step cannot be cancelled (a shielded wait), and it returns a stream
    after the interrupt: the stream's producer is closed (its key and record end), and the
    client is answered 503 all the same."""
    started, release = trio.Event(), trio.Event()
    closed: list[bool] = []

    class Chunks:
        def __aiter__(self) -> Chunks:
            return self

        async def __anext__(self) -> bytes:
            raise StopAsyncIteration

        async def aclose(self) -> None:
            closed.append(True)

    async def handler(request: Request) -> Answer:
        started.set()
        with trio.CancelScope(shield=True):
            await release.wait()
        return StreamReply(200, {"content-type": "text/event-stream"}, Chunks())

    with trio.fail_after(5):
        async with serving(handler, graceful_timeout=0.2) as served:
            async with await served.connect() as client:
                await client.send(raw_request("POST", "/v1/chat/completions", body=b"{}"))
                await started.wait()
                served.stop.set()
                await trio.sleep(0.4)  # past the grace: the connection is interrupted
                release.set()
                reply = await client.reply()
                await served.done.wait()
    assert reply.status == 503
    assert closed == [True]
