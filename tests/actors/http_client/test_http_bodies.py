"""Response bodies: every framing, decoding, and pieces as they arrive."""

from __future__ import annotations

import gzip
import zlib

import trio

from actors.http_client import HttpClient
from tests.actors.http_client.upstream import OK, Peer, answering, start_upstream

HEADERS = [(b"content-type", b"application/json")]


async def fetch(url: str, method: str = "POST") -> tuple[int, dict[str, str], bytes]:
    async with HttpClient(url, connect_timeout=5) as client:
        response = await client.request(method, "/", HEADERS, b"{}")
        async with response:
            body = await response.read()
        return response.status, dict(response.headers), body


async def test_content_length_body(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        reply = b'HTTP/1.1 201 Created\r\nContent-Length: 11\r\nX-Id: 7\r\n\r\n{"id": "a"}'
        upstream = await start_upstream(nursery, answering(reply))
        status, headers, body = await fetch(upstream.url)
        assert (status, body) == (201, b'{"id": "a"}')
        assert headers == {"content-length": "11", "x-id": "7"}


async def test_chunked_body_split_across_writes(nursery: trio.Nursery) -> None:
    writes = [
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
        b"5\r\nhel",
        b"lo\r",
        b"\n",
        b"1",
        b"0\r\n0123456789abcdef\r",
        b"\n0\r\n",
        b"\r\n",
    ]

    async def handler(peer: Peer) -> None:
        await peer.read_request()
        for data in writes:
            await peer.send(data)
            await trio.sleep(0.002)
        await peer.wait_eof()

    with trio.fail_after(5):
        upstream = await start_upstream(nursery, handler)
        status, _, body = await fetch(upstream.url)
        assert (status, body) == (200, b"hello0123456789abcdef")


async def test_body_delimited_by_close(nursery: trio.Nursery) -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil ")
        await trio.sleep(0.01)
        await peer.send(b"the end")

    with trio.fail_after(5):
        upstream = await start_upstream(nursery, handler)
        assert (await fetch(upstream.url))[2] == b"until the end"


async def test_http_1_0_body_delimited_by_close(nursery: trio.Nursery) -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.0 200 OK\r\n\r\nold")

    with trio.fail_after(5):
        upstream = await start_upstream(nursery, handler)
        assert (await fetch(upstream.url))[2] == b"old"


async def test_gzip_body_is_decoded(nursery: trio.Nursery) -> None:
    text = b'{"choices": []}' * 100
    packed = gzip.compress(text)
    reply = b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: %d\r\n\r\n%s" % (
        len(packed),
        packed,
    )
    with trio.fail_after(5):
        upstream = await start_upstream(nursery, answering(reply))
        assert (await fetch(upstream.url))[2] == text


async def test_chunked_gzip_stream_is_decoded_piece_by_piece(nursery: trio.Nursery) -> None:
    compressor = zlib.compressobj(wbits=zlib.MAX_WBITS | 16)
    first = compressor.compress(b"data: one\n\n") + compressor.flush(zlib.Z_SYNC_FLUSH)
    second = compressor.compress(b"data: two\n\n") + compressor.flush()
    sent = trio.Event()

    async def handler(peer: Peer) -> None:
        await peer.read_request()
        head = b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ntransfer-encoding: chunked\r\n\r\n"
        await peer.send(head + b"%x\r\n%s\r\n" % (len(first), first))
        await sent.wait()
        await peer.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(second), second))

    with trio.fail_after(5):
        upstream = await start_upstream(nursery, handler)
        async with HttpClient(upstream.url, connect_timeout=5) as client:
            response = await client.request("GET", "events", [(b"accept-encoding", b"gzip")], b"")
            pieces = []
            async with response:
                async for piece in response.iter_raw():
                    pieces.append(piece)
                    sent.set()
            assert pieces == [b"data: one\n\n", b"data: two\n\n"]


async def test_raw_deflate_body_is_decoded(nursery: trio.Nursery) -> None:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    packed = packer.compress(b"raw deflate") + packer.flush()
    reply = b"HTTP/1.1 200 OK\r\ncontent-encoding: deflate\r\ncontent-length: %d\r\n\r\n%s" % (
        len(packed),
        packed,
    )
    with trio.fail_after(5):
        upstream = await start_upstream(nursery, answering(reply))
        assert (await fetch(upstream.url))[2] == b"raw deflate"


async def test_iter_raw_yields_pieces_as_they_arrive(nursery: trio.Nursery) -> None:
    got_first = trio.Event()

    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nfirst")
        await got_first.wait()
        await peer.send(b"later")
        await peer.wait_eof()

    with trio.fail_after(5):
        upstream = await start_upstream(nursery, handler)
        async with HttpClient(upstream.url, connect_timeout=5) as client:
            response = await client.request("POST", "stream", HEADERS, b"{}")
            chunks = response.iter_raw()
            assert await chunks.__anext__() == b"first"
            got_first.set()
            assert await chunks.__anext__() == b"later"
            assert [piece async for piece in chunks] == []
            await response.aclose()
            assert client.idle_connections == 1


async def test_interim_responses_are_skipped(nursery: trio.Nursery) -> None:
    reply = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n"
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfinal"
    )
    with trio.fail_after(5):
        upstream = await start_upstream(nursery, answering(reply))
        assert await fetch(upstream.url) == (200, {"content-length": "5"}, b"final")


async def test_no_content_has_no_body_and_keeps_the_connection(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        upstream = await start_upstream(nursery, answering(b"HTTP/1.1 204 No Content\r\n\r\n", OK))
        async with HttpClient(upstream.url, connect_timeout=5) as client:
            for expected in (b"", b"ok"):
                response = await client.request("DELETE", "thing", [])
                assert await response.read() == expected
                await response.aclose()
        assert upstream.connections == 1


async def test_head_reply_has_no_body(nursery: trio.Nursery) -> None:
    reply = b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n"
    with trio.fail_after(5):
        upstream = await start_upstream(nursery, answering(reply))
        assert await fetch(upstream.url, "HEAD") == (200, {"content-length": "1000"}, b"")


async def test_headers_are_case_insensitive_and_repeats_joined(nursery: trio.Nursery) -> None:
    reply = (
        b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\nX-Trace: a\r\n"
        b"x-trace: b\r\ncontent-length: 0\r\n\r\n"
    )
    with trio.fail_after(5):
        upstream = await start_upstream(nursery, answering(reply))
        async with HttpClient(upstream.url, connect_timeout=5) as client:
            response = await client.request("POST", "x", [])
            await response.aclose()
        headers = response.headers
        assert response.status == 429
        assert headers["RETRY-AFTER"] == headers.get("retry-after") == "3"
        assert headers.get("x-trace") == "a, b"
        assert "Retry-After" in headers and "missing" not in headers and 3 not in headers
        assert headers.get("missing", "default") == "default"
        assert len(headers) == 3
