"""Streams and clients that leave, on the served gateway with raw sockets: SSE events are
written as the upstream sends them, an HTTP/1.0 client gets the stream delimited by the close,
and a client that goes away (before its answer, or mid-stream, or twenty at once) cancels its
call: the upstream sees the disconnect, the key comes back, nothing is left in flight, and the
gateway serves on."""

from __future__ import annotations

import socket
import struct

import httpx2
import trio

from edge.simulator import Complete, Hang, SimRequest, always, sequence
from tests.edge.raw_http import RawClient
from tests.edge.served import AUTH, Served, chat_body, chat_request, serving

SLOW = Complete("a b c d e f g h i j", chunks=10, chunk_delay=0.3)  # 3 s, if nobody leaves


async def reset(client: RawClient) -> None:
    """Close with a TCP reset (SO_LINGER 0), as a killed process leaves a connection."""
    client.stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await client.stream.aclose()


async def until_nothing_in_flight(served: Served) -> dict[str, object]:
    """/stats once no call is in flight and no key is leased (polled: records are written
    as calls end, a moment after the client left)."""
    async with httpx2.AsyncClient(base_url=served.url, headers=AUTH) as http:
        while True:
            stats = (await http.get("/stats")).json()
            alpha = stats["providers"]["alpha"]
            if (stats["totals"]["in_flight"], alpha["in_flight"]) == (0, 0) and all(
                key["in_flight"] == 0 for key in alpha["keys"].values()
            ):
                return dict(stats["totals"])
            await trio.sleep(0.02)


async def test_events_are_written_as_the_upstream_sends_them() -> None:
    paced = Complete("a b c d", chunks=4, chunk_delay=0.2)  # 7 events: "a" at 0.2 s, end 1.4 s
    with trio.fail_after(10):
        async with (
            serving({"alpha": always(paced)}) as served,
            await served.connect() as client,
        ):
            began = trio.current_time()
            await client.send(chat_request(chat_body(stream=True)))
            head = await client.until(b"\r\n\r\n")
            await client.until(b'"content":"a')
            first = trio.current_time() - began
            rest = await client.until(b"\r\n0\r\n\r\n")  # the last chunk
            whole = trio.current_time() - began
    assert b"transfer-encoding: chunked" in head.lower()
    assert b"content-type: text/event-stream" in head
    assert rest.endswith(b"data: [DONE]\n\n\r\n0\r\n\r\n")
    assert whole - first > 0.8  # written at once, not held back until the stream ended


async def test_an_http10_client_gets_the_stream_delimited_by_the_close() -> None:
    with trio.fail_after(10):
        async with serving() as served, await served.connect() as client:
            await client.send(chat_request(chat_body(stream=True), version="HTTP/1.0"))
            reply = await client.reply()  # no length, not chunked: the body ends with the close
    assert reply.headers["connection"] == "close"
    assert "transfer-encoding" not in reply.headers
    assert reply.body.startswith(b"data: {")
    assert reply.body.endswith(b"data: [DONE]\n\n")


async def test_a_client_leaving_before_its_answer_cancels_the_call() -> None:
    with trio.fail_after(10):
        async with serving({"alpha": always(Hang())}, timeouts={"first_byte": 30}) as served:
            alpha = served.upstreams["alpha"]
            async with await served.connect() as client:
                await client.send(chat_request())
                await alpha.wait_for_calls(1)
            await alpha.wait_for_disconnects(1)
            totals = await until_nothing_in_flight(served)
    assert totals["cancelled"] == 1
    assert alpha.disconnects == 1


async def test_a_client_leaving_mid_stream_closes_the_upstream_and_frees_the_key() -> None:
    with trio.fail_after(10):
        async with serving(
            {"alpha": sequence(SLOW, then=Complete("again"))},
            providers={"alpha": {"max_concurrent_per_key": 1}},
        ) as served:
            alpha = served.upstreams["alpha"]
            async with await served.connect() as client:
                await client.send(chat_request(chat_body(stream=True)))
                await client.until(b'"content":"a')
            await alpha.wait_for_disconnects(1)
            await until_nothing_in_flight(served)
            await served.assert_serving()  # the only key, one call at a time, came back


async def test_a_client_resetting_mid_stream_closes_the_upstream() -> None:
    with trio.fail_after(10):
        async with serving({"alpha": always(SLOW)}) as served:
            alpha = served.upstreams["alpha"]
            client = await served.connect()
            await client.send(chat_request(chat_body(stream=True)))
            await client.until(b'"content":"a')
            await reset(client)
            await alpha.wait_for_disconnects(1)
            await until_nothing_in_flight(served)


async def test_many_clients_leaving_early_leave_nothing_behind() -> None:
    def script(request: SimRequest) -> Hang | Complete:
        if request.stream:
            return SLOW
        return Hang() if request.json["messages"][0]["content"] == "wait" else Complete()

    with trio.fail_after(15):
        async with serving({"alpha": script}, timeouts={"first_byte": 30}) as served:
            alpha = served.upstreams["alpha"]
            clients = [await served.connect() for _ in range(20)]
            for index, client in enumerate(clients):
                stream = index % 2 == 0
                await client.send(chat_request(chat_body(stream=stream, content="wait")))
            await alpha.wait_for_calls(20)
            for client in clients[::2]:  # the streams: once their first content is in
                await client.until(b'"content":"a')
            for index, client in enumerate(clients):
                if index % 4 == 3:
                    await reset(client)
                else:
                    await client.stream.aclose()
            await alpha.wait_for_disconnects(20)
            totals = await until_nothing_in_flight(served)
            await served.assert_serving()
    assert alpha.disconnects == 20
    assert (totals["calls"], totals["cancelled"]) == (20, 20), totals


async def test_a_client_that_stops_reading_a_stream_is_let_go() -> None:
    """A write that cannot finish within `server.write_timeout` is the client gone: the
    stream's call is cancelled, its upstream closed and its only key given back, and the
    gateway serves on."""
    endless = Complete("x" * 200_000, chunks=400, chunk_delay=0.001)  # more than buffers hold
    with trio.fail_after(20):
        async with serving(
            {"alpha": sequence(endless, then=Complete("again"))},
            providers={"alpha": {"max_concurrent_per_key": 1}},
            server={"write_timeout": 0.5},
        ) as served:
            alpha = served.upstreams["alpha"]
            sock = trio.socket.socket()
            sock.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_RCVBUF, 4096)
            await sock.connect(("127.0.0.1", served.port))
            async with RawClient(trio.SocketStream(sock)) as client:
                await client.send(chat_request(chat_body(stream=True)))
                await client.until(b"\r\n\r\n")  # then it reads no more, and stays connected
                await alpha.wait_for_disconnects(1)
                totals = await until_nothing_in_flight(served)
                await served.assert_serving()  # the only key, one call at a time, came back
    assert totals["cancelled"] + totals.get("cut", 0) >= 1
