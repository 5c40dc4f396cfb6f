"""The pool: keep-alive reuse, and every reason not to reuse a connection."""

from __future__ import annotations

import trio

from actors.http_client import HttpClient
from tests.actors.http_client.upstream import OK, Peer, Upstream, answering, start_upstream


async def get(client: HttpClient) -> bytes:
    response = await client.request("POST", "chat/completions", [], b"{}")
    try:
        return await response.read()
    finally:
        await response.aclose()


async def test_sequential_requests_share_one_connection(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        upstream = await start_upstream(nursery, answering(OK))
        async with HttpClient(upstream.url, connect_timeout=5) as client:
            assert [await get(client) for _ in range(3)] == [b"ok"] * 3
            assert client.idle_connections == 1
        assert upstream.connections == 1
        assert client.idle_connections == 0


async def test_a_connection_the_server_closed_while_idle_is_replaced(
    nursery: trio.Nursery,
) -> None:
    closed = trio.Event()

    async def one_then_close(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(OK)
        await peer.stream.aclose()
        closed.set()

    with trio.fail_after(5):
        upstream = await start_upstream(nursery, one_then_close)
        async with HttpClient(upstream.url, connect_timeout=5) as client:
            assert await get(client) == b"ok"
            assert client.idle_connections == 1
            await closed.wait()
            await until_readable(upstream, client)
            assert await get(client) == b"ok"
        assert upstream.connections == 2


async def until_readable(upstream: Upstream, client: HttpClient) -> None:
    """The server closed its end; wait for the FIN to reach the client's socket."""
    connection = client._idle[-1]
    while not connection.socket.is_readable():
        await trio.sleep(0.001)


async def test_bytes_sent_to_an_idle_connection_retire_it(nursery: trio.Nursery) -> None:
    junk_sent = trio.Event()

    async def then_junk(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(OK)
        await peer.send(b"HTTP/1.1 200 OK\r\n")
        junk_sent.set()
        await peer.wait_eof()

    with trio.fail_after(5):
        upstream = await start_upstream(nursery, then_junk)
        async with HttpClient(upstream.url, connect_timeout=5) as client:
            response = await client.request("POST", "x", [], b"")
            assert await response.read() == b"ok"
            await response.aclose()
            await junk_sent.wait()
            if client.idle_connections:  # unless the junk came with the reply
                await until_readable(upstream, client)
            response = await client.request("POST", "x", [], b"")
            await response.aclose()
        assert upstream.connections == 2


async def test_junk_after_a_reply_in_the_same_read_retires_it(nursery: trio.Nursery) -> None:
    reply = OK + b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nbad"
    with trio.fail_after(5):
        upstream = await start_upstream(nursery, answering(reply, OK))
        async with HttpClient(upstream.url, connect_timeout=5) as client:
            assert await get(client) == b"ok"
            assert client.idle_connections == 0
            assert await get(client) == b"ok"
        assert upstream.connections == 2


async def test_connection_close_is_not_reused(nursery: trio.Nursery) -> None:
    reply = b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok"
    with trio.fail_after(5):
        upstream = await start_upstream(nursery, answering(reply))
        async with HttpClient(upstream.url, connect_timeout=5) as client:
            assert [await get(client), await get(client)] == [b"ok", b"ok"]
            assert client.idle_connections == 0
        assert upstream.connections == 2


async def test_http_1_0_reply_is_not_reused(nursery: trio.Nursery) -> None:
    reply = b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok"
    with trio.fail_after(5):
        upstream = await start_upstream(nursery, answering(reply))
        async with HttpClient(upstream.url, connect_timeout=5) as client:
            assert [await get(client), await get(client)] == [b"ok", b"ok"]
        assert upstream.connections == 2


async def test_an_expired_idle_connection_is_not_reused(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        upstream = await start_upstream(nursery, answering(OK))
        async with HttpClient(upstream.url, connect_timeout=5, keepalive_expiry=0.05) as client:
            assert await get(client) == b"ok"
            assert await get(client) == b"ok"  # well within the expiry: reused
            await trio.sleep(0.1)
            assert await get(client) == b"ok"
        assert upstream.connections == 2


async def test_the_pool_keeps_at_most_max_idle(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        upstream = await start_upstream(nursery, answering(OK))
        async with HttpClient(upstream.url, connect_timeout=5, max_idle=2) as client:
            responses = [await client.request("POST", "x", [], b"") for _ in range(4)]
            assert upstream.connections == 4  # no limit on connections in use
            for response in responses:
                assert await response.read() == b"ok"
                await response.aclose()
            assert client.idle_connections == 2


async def test_closing_an_unread_response_closes_its_connection(nursery: trio.Nursery) -> None:
    saw_eof = trio.Event()

    async def partial_body(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nstart")
        await peer.wait_eof()
        saw_eof.set()

    with trio.fail_after(5):
        upstream = await start_upstream(nursery, partial_body)
        async with HttpClient(upstream.url, connect_timeout=5) as client:
            response = await client.request("POST", "x", [], b"")
            assert await response.iter_raw().__anext__() == b"start"
            await response.aclose()
            await response.aclose()  # twice is harmless
            assert client.idle_connections == 0
            await saw_eof.wait()
            try:
                await response.read()
            except trio.ClosedResourceError:
                pass
            else:
                raise AssertionError("read after aclose should fail")


async def test_a_fully_received_body_goes_back_even_if_never_read(
    nursery: trio.Nursery,
) -> None:
    with trio.fail_after(5):
        upstream = await start_upstream(
            nursery, answering(OK, b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nlast")
        )
        async with HttpClient(upstream.url, connect_timeout=5) as client:
            response = await client.request("POST", "x", [], b"")
            await response.aclose()
            assert client.idle_connections == 1
            assert await get(client) == b"last"
        assert upstream.connections == 1
