"""edge.wire streaming replies and clients that leave: chunked framing, chunks written as they
come, `aclose()` however a stream ends, the handler cancelled when its client goes away."""

from __future__ import annotations

import httpx2
import trio

from edge.wire import Reply, Request, StreamReply
from tests.edge.wire_harness import Answer, Pieces, raw_request, serving

SSE = {"content-type": "text/event-stream", "cache-control": "no-cache"}


def streaming(pieces: Pieces) -> StreamReply:
    return StreamReply(200, SSE, pieces)


async def test_stream_reply_is_chunked_exactly() -> None:
    pieces = Pieces(b"data: 1\n\n", b"", b"x" * 300)

    async def handler(request: Request) -> Answer:
        return streaming(pieces)

    with trio.fail_after(5):
        async with serving(handler) as served, await served.connect() as client:
            await client.send(raw_request("GET", "/v1/stream"))
            reply = await client.reply()
            await client.send(raw_request("GET", "/alive"))  # the connection is kept
            after = await client.reply()
    assert reply.raw.endswith(
        b"\r\n\r\n9\r\ndata: 1\n\n\r\n12c\r\n" + b"x" * 300 + b"\r\n0\r\n\r\n"
    )  # the empty piece is not written: it would end the body
    date = reply.headers.pop("date")
    assert date.endswith(" GMT")
    assert reply.headers.pop("x-request-id").startswith("req_")
    assert reply.headers == {**SSE, "transfer-encoding": "chunked"}
    assert reply.chunks == [b"data: 1\n\n", b"x" * 300]
    assert after.body == b"alive"
    assert pieces.close_calls == 1


async def test_chunks_are_written_as_they_are_yielded() -> None:
    first_read = trio.Event()
    pieces = Pieces(b"data: first\n\n", first_read, b"data: second\n\n")

    async def handler(request: Request) -> Answer:
        return streaming(pieces)

    with trio.fail_after(5):
        async with serving(handler) as served, await served.connect() as client:
            await client.send(raw_request("POST", "/v1/chat/completions", body=b"{}"))
            await client.until(b"\r\n\r\n")
            first = await client.until(b"data: first\n\n\r\n")
            assert pieces.yielded == 1 and not pieces.closed.is_set()
            first_read.set()
            rest = await client.until(b"0\r\n\r\n")
            await pieces.closed.wait()
    assert first == b"d\r\ndata: first\n\n\r\n"
    assert rest == b"e\r\ndata: second\n\n\r\n0\r\n\r\n"
    assert pieces.close_calls == 1


async def test_httpx_reads_json_and_a_stream_over_one_pool() -> None:
    gate = trio.Event()
    pieces = Pieces(b"data: 1\n\n", gate, b"data: [DONE]\n\n")

    async def handler(request: Request) -> Answer:
        if request.path == "/v1/stream":
            return streaming(pieces)
        return Reply(200, {"content-type": "application/json"}, b'{"got":%d}' % len(request.body))

    with trio.fail_after(5):
        async with serving(handler) as served, httpx2.AsyncClient(base_url=served.url) as http:
            answer = await http.post("/v1/chat/completions", json={"model": "m"})
            async with http.stream("GET", "/v1/stream") as reply:
                events = reply.aiter_bytes()
                first = await events.__anext__()
                gate.set()
                rest = b"".join([piece async for piece in events])
            again = await http.get("/alive")
    assert (answer.status_code, answer.json()) == (200, {"got": 13})
    assert reply.headers["content-type"] == "text/event-stream"
    assert first + rest == b"data: 1\n\ndata: [DONE]\n\n"
    assert again.text == "alive"
    assert pieces.close_calls == 1


async def test_client_leaving_mid_stream_closes_the_chunks() -> None:
    pieces = Pieces(b"data: first\n\n", None)  # then waits for ever

    async def handler(request: Request) -> Answer:
        return streaming(pieces)

    with trio.fail_after(5):
        async with serving(handler) as served:
            async with await served.connect() as client:
                await client.send(raw_request("GET", "/v1/stream"))
                await client.until(b"data: first\n\n\r\n")
            await pieces.closed.wait()
            await served.assert_serving()
    assert pieces.cancelled
    assert pieces.close_calls == 1


async def test_http10_stream_is_written_raw_and_closed() -> None:
    pieces = Pieces(b"one ", b"two")

    async def handler(request: Request) -> Answer:
        return streaming(pieces)

    with trio.fail_after(5):
        async with serving(handler) as served, await served.connect() as client:
            await client.send(b"GET /v1/stream HTTP/1.0\r\n\r\n")
            reply = await client.reply()  # no length, not chunked: the body ends with the stream
    assert reply.headers["connection"] == "close"
    assert "transfer-encoding" not in reply.headers
    assert reply.body == b"one two"
    assert pieces.close_calls == 1


async def test_client_leaving_before_the_reply_cancels_the_handler() -> None:
    started, cancelled = trio.Event(), trio.Event()

    async def handler(request: Request) -> Answer:
        if request.path == "/pending":
            started.set()
            try:
                await trio.sleep_forever()
            except trio.Cancelled:
                cancelled.set()
                raise
        return Reply(200, {}, b"other")

    with trio.fail_after(5):
        async with serving(handler) as served:
            async with await served.connect() as client:
                await client.send(raw_request("POST", "/pending", body=b"{}"))
                await started.wait()
                async with await served.connect() as other:  # served while one is pending
                    await other.send(raw_request("GET", "/other"))
                    assert (await other.reply()).body == b"other"
                assert not cancelled.is_set()
            await cancelled.wait()
            await served.assert_serving()


async def test_many_clients_leaving_early_leave_nothing_behind() -> None:
    pending = 0
    all_started = trio.Event()

    async def handler(request: Request) -> Answer:
        nonlocal pending
        pending += 1
        if pending == 20:
            all_started.set()
        try:
            await trio.sleep_forever()
        finally:
            pending -= 1
        raise AssertionError("unreachable")

    with trio.fail_after(10):
        async with serving(handler) as served:
            clients = [await served.connect() for _ in range(20)]
            for client in clients:
                await client.send(raw_request("GET", "/pending"))
            await all_started.wait()
            for client in clients:
                await client.stream.aclose()
            while pending:
                await trio.sleep(0.01)
            await served.assert_serving()


# -- what brings the whole server down today ---------------------------------------------------


async def test_client_reset_during_a_large_reply_leaves_the_server_serving() -> None:
    async def handler(request: Request) -> Answer:
        return Reply(200, {}, b"x" * (64 << 20))  # more than the socket buffers hold

    with trio.fail_after(10):
        async with serving(handler) as served:
            client = await served.connect()
            await client.send(raw_request("GET", "/large"))
            await client.until(b"\r\n\r\n")
            await trio.sleep(0.1)  # the server is blocked in send_all
            await client.reset()
            await trio.sleep(0.1)
            await served.assert_serving()


async def test_clients_abandoning_a_fast_stream_leave_the_server_serving() -> None:
    closed: list[Pieces] = []

    class Endless(Pieces):
        async def __anext__(self) -> bytes:
            await trio.sleep(0.001)
            return b"data: " + b"x" * 200 + b"\n\n"

    async def handler(request: Request) -> Answer:
        pieces = Endless()
        closed.append(pieces)
        return streaming(pieces)

    with trio.fail_after(20):
        async with serving(handler) as served:
            for _ in range(10):  # each abandon hits the race about two times in three
                async with await served.connect() as client:
                    await client.send(raw_request("GET", "/v1/stream"))
                    await client.until(b"data: ")
                    await trio.sleep(0.02)
                await closed[-1].closed.wait()
                await served.assert_serving()


async def test_chunks_raising_mid_stream_cut_the_stream_and_server_serves_on() -> None:
    pieces = Pieces(b"data: first\n\n", RuntimeError("encoder bug"))

    async def handler(request: Request) -> Answer:
        return streaming(pieces)

    with trio.fail_after(5):
        async with serving(handler) as served:
            async with await served.connect() as client:
                await client.send(raw_request("GET", "/v1/stream"))
                data = await client.rest()
            await pieces.closed.wait()
            await served.assert_serving()
    # cut without the last chunk, so the client sees a truncated stream, not a clean end
    assert data.endswith(b"data: first\n\n\r\n")


# -- requests the stream path gets wrong ------------------------------------------------------


async def test_head_of_a_stream_reply_gets_no_body() -> None:
    pieces = Pieces(b"a", b"b")

    async def handler(request: Request) -> Answer:
        return streaming(pieces)

    with trio.fail_after(5):
        async with serving(handler) as served, await served.connect() as client:
            await client.send(raw_request("HEAD", "/v1/stream"))
            await client.reply(to_head=True)
            await pieces.closed.wait()
            await client.send(raw_request("GET", "/alive"))
            after = await client.until(b"\r\n")
    assert after == b"HTTP/1.1 200 OK\r\n"


async def test_unhandled_upgrade_header_is_served_as_plain_http() -> None:
    pieces = Pieces(b"data: 1\n\n")
    bodies: list[bytes] = []

    async def handler(request: Request) -> Answer:
        bodies.append(request.body)
        return streaming(pieces)

    with trio.fail_after(5):
        async with serving(handler) as served, await served.connect() as client:
            await client.send(
                raw_request(
                    "POST",
                    "/v1/chat/completions",
                    {
                        "connection": "Upgrade, HTTP2-Settings",
                        "upgrade": "h2c",
                        "http2-settings": "AAMAAABkAAQCAAAAAAIAAAAA",
                    },
                    b'{"stream":true}',
                )
            )
            reply = await client.reply()
    assert reply.chunks == [b"data: 1\n\n"]
    assert bodies == [b'{"stream":true}']
    assert pieces.close_calls == 1
