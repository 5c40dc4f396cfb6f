"""Failures and cancellation: each maps to one error, and no broken connection is reused."""

from __future__ import annotations

import socket

import pytest
import trio

from actors.http_client import (
    ConnectError,
    ConnectTimeout,
    HttpClient,
    HttpClientError,
    ReadError,
    RemoteProtocolError,
)
from tests.actors.http_client.upstream import OK, Handler, Peer, answering, start_upstream

SECRET = b"Bearer sk-very-secret"
AUTH = [(b"authorization", SECRET)]


async def read_one(client: HttpClient) -> bytes:
    response = await client.request("POST", "x", AUTH, b"{}")
    try:
        return await response.read()
    finally:
        await response.aclose()


def no_secret_in(error: BaseException) -> None:
    chain: BaseException | None = error
    while chain is not None:
        assert b"sk-very-secret".decode() not in f"{chain!s} {chain!r}"
        chain = chain.__cause__ or chain.__context__


async def test_cancelled_while_waiting_for_the_head(nursery: trio.Nursery) -> None:
    saw_eof = trio.Event()

    async def silent_then_ok(peer: Peer) -> None:
        if peer.upstream.connections == 1:
            await peer.read_request()
            await peer.wait_eof()
            saw_eof.set()
        else:
            await answering(OK)(peer)

    with trio.fail_after(5):
        upstream = await start_upstream(nursery, silent_then_ok)
        async with HttpClient(upstream.url, connect_timeout=5) as client:
            with trio.move_on_after(0.05) as waiting:
                await client.request("POST", "x", AUTH, b"{}")
            assert waiting.cancelled_caught
            await saw_eof.wait()
            assert client.idle_connections == 0
            assert await read_one(client) == b"ok"
        assert upstream.connections == 2


async def test_cancelled_in_the_middle_of_the_body(nursery: trio.Nursery) -> None:
    saw_eof = trio.Event()

    async def stall_then_ok(peer: Peer) -> None:
        if peer.upstream.connections == 1:
            await peer.read_request()
            await peer.send(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf")
            await peer.wait_eof()
            saw_eof.set()
        else:
            await answering(OK)(peer)

    with trio.fail_after(5):
        upstream = await start_upstream(nursery, stall_then_ok)
        async with HttpClient(upstream.url, connect_timeout=5) as client:
            response = await client.request("POST", "x", AUTH, b"{}")
            chunks = response.iter_raw()
            assert await chunks.__anext__() == b"half"
            with trio.move_on_after(0.05) as idle:
                await chunks.__anext__()
            assert idle.cancelled_caught
            await saw_eof.wait()  # closed at once, before the response is
            await response.aclose()
            assert client.idle_connections == 0
            assert await read_one(client) == b"ok"
        assert upstream.connections == 2


async def test_malformed_status_line(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        upstream = await start_upstream(nursery, answering(b"HTTX/1.1 200 OK\r\n\r\n"))
        async with HttpClient(upstream.url, connect_timeout=5) as client:
            with pytest.raises(RemoteProtocolError) as caught:
                await read_one(client)
            no_secret_in(caught.value)
            assert client.idle_connections == 0


async def test_server_closes_before_the_head_ends(nursery: trio.Nursery) -> None:
    async def half_head(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\ncontent-")

    with trio.fail_after(5):
        upstream = await start_upstream(nursery, half_head)
        async with HttpClient(upstream.url, connect_timeout=5) as client:
            with pytest.raises(RemoteProtocolError, match="before the response head ended"):
                await read_one(client)


async def test_switching_protocols_is_refused(nursery: trio.Nursery) -> None:
    reply = b"HTTP/1.1 101 Switching Protocols\r\nupgrade: x\r\nconnection: upgrade\r\n\r\n.."
    with trio.fail_after(5):
        upstream = await start_upstream(nursery, answering(reply))
        async with HttpClient(upstream.url, connect_timeout=5) as client:
            with pytest.raises(RemoteProtocolError, match="switched protocols"):
                await read_one(client)


async def test_a_head_over_64_kib_is_refused(nursery: trio.Nursery) -> None:
    async def endless_head(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\n")
        for _ in range(20):
            await peer.send(b"x-filler: " + b"a" * 4086 + b"\r\n")
        await peer.wait_eof()

    with trio.fail_after(5):
        upstream = await start_upstream(nursery, endless_head)
        async with HttpClient(upstream.url, connect_timeout=5) as client:
            with pytest.raises(RemoteProtocolError, match="64 KiB"):
                await read_one(client)


async def test_a_large_head_under_the_limit_is_fine(nursery: trio.Nursery) -> None:
    big = b"HTTP/1.1 200 OK\r\nx-big: " + b"b" * 60_000 + b"\r\ncontent-length: 2\r\n\r\nok"
    with trio.fail_after(5):
        upstream = await start_upstream(nursery, answering(big))
        async with HttpClient(upstream.url, connect_timeout=5) as client:
            assert await read_one(client) == b"ok"


def cut_after(head: bytes, part: bytes) -> Handler:
    """Send a head and part of the body, then close (FIN) the connection."""

    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(head + part)

    return handler


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n64\r\n",
    ],
    ids=["content-length", "chunked"],
)
async def test_server_cuts_mid_body(nursery: trio.Nursery, head: bytes) -> None:
    with trio.fail_after(5):
        upstream = await start_upstream(nursery, cut_after(head, b"partial"))
        async with HttpClient(upstream.url, connect_timeout=5) as client:
            response = await client.request("POST", "x", AUTH, b"{}")
            with pytest.raises(ReadError) as caught:
                await response.read()
            await response.aclose()
            no_secret_in(caught.value)

            response = await client.request("POST", "x", AUTH, b"{}")
            pieces = []
            with pytest.raises(ReadError):
                async for piece in response.iter_raw():
                    pieces.append(piece)
            await response.aclose()
            assert pieces == [b"partial"]
            assert client.idle_connections == 0


async def test_a_reset_mid_body_is_a_read_error(nursery: trio.Nursery) -> None:
    async def reset(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial")
        sock = peer.stream.socket  # type: ignore[attr-defined]
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")

    with trio.fail_after(5):
        upstream = await start_upstream(nursery, reset)
        async with HttpClient(upstream.url, connect_timeout=5) as client:
            response = await client.request("POST", "x", AUTH, b"{}")
            with pytest.raises(ReadError):
                await response.read()
            await response.aclose()


async def test_connection_refused() -> None:
    with trio.fail_after(5):
        probe = trio.socket.socket()
        await probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()  # nothing listens there now
        async with HttpClient(f"http://127.0.0.1:{port}", connect_timeout=5) as client:
            with pytest.raises(ConnectError) as caught:
                await read_one(client)
        assert not isinstance(caught.value, ConnectTimeout)
        no_secret_in(caught.value)


async def test_unknown_host() -> None:
    with trio.fail_after(5):
        async with HttpClient("http://no-such-host.invalid", connect_timeout=5) as client:
            with pytest.raises(ConnectError):
                await read_one(client)


async def test_connect_timeout_covers_the_tls_handshake(nursery: trio.Nursery) -> None:
    async def never_handshake(peer: Peer) -> None:
        await peer.wait_eof()

    with trio.fail_after(5):
        upstream = await start_upstream(nursery, never_handshake)
        url = upstream.url.replace("http://", "https://")
        async with HttpClient(url, connect_timeout=0.05) as client:
            with pytest.raises(ConnectTimeout) as caught:
                await read_one(client)
        assert isinstance(caught.value, HttpClientError)
        assert upstream.connections == 1


async def test_undecodable_gzip_is_a_protocol_error(nursery: trio.Nursery) -> None:
    reply = b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: 5\r\n\r\nnotgz"
    with trio.fail_after(5):
        upstream = await start_upstream(nursery, answering(reply))
        async with HttpClient(upstream.url, connect_timeout=5) as client:
            with pytest.raises(RemoteProtocolError, match="gzip"):
                await read_one(client)
            assert client.idle_connections == 0
