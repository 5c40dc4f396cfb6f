"""Slow and greedy clients against the served gateway: a request head trickled a byte at a time
is cut `server.header_timeout` after its first byte (an idle kept-alive connection still gets
the keep-alive timeout, and a head that arrives in time is served however long the connection
waited before it); a body trickled is a 408 after `server.body_timeout`, then closed; past
`server.max_connections` open connections a new one is refused at once, and served again once
one closes."""

from __future__ import annotations

import trio

from tests.edge.raw_http import RawClient
from tests.edge.served import AUTH, chat_request, serving

SHORT = 0.5


async def trickle(client: RawClient, data: bytes, every: float = 0.05) -> None:
    """Send `data` a byte at a time until it is sent or the server has closed."""
    try:
        for byte in data:
            await client.send(bytes([byte]))
            await trio.sleep(every)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass


async def closed_after(client: RawClient, data: bytes) -> tuple[float, bytes]:
    """Trickle `data` while waiting for the server to close: how long it took, what came."""
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trickle, client, data)
        received = await client.rest()
        nursery.cancel_scope.cancel()
    return trio.current_time() - start, received


async def test_a_head_trickled_a_byte_at_a_time_is_cut_at_the_header_timeout() -> None:
    head = b"GET /health HTTP/1.1\r\nHost: test\r\nX-Slow: " + b"a" * 1000 + b"\r\n\r\n"
    with trio.fail_after(10):
        async with serving(server={"header_timeout": SHORT}) as served:
            async with await served.connect() as client:
                took, received = await closed_after(client, head)
            await served.assert_serving()
    assert SHORT - 0.1 < took < SHORT + 1.0
    assert b"200" not in received


async def test_the_header_timeout_runs_from_the_first_byte_of_each_request() -> None:
    """Idle time before a request counts against keep-alive, not against the head: a
    connection idle past the header timeout, before its first and its second request, has
    both served."""
    with trio.fail_after(10):
        async with serving(server={"header_timeout": SHORT}) as served:
            async with await served.connect() as client:
                for _ in range(2):
                    await trio.sleep(SHORT * 2)
                    await client.send(chat_request())
                    assert (await client.reply()).status == 200


async def test_a_body_trickled_a_byte_at_a_time_is_a_408_at_the_body_timeout() -> None:
    body = b'{"model":"vm","messages":[{"role":"user","content":"' + b"a" * 500 + b'"}]}'
    head = chat_request(b"", {"content-length": str(len(body))})
    with trio.fail_after(10):
        async with serving(server={"body_timeout": SHORT}) as served:
            async with await served.connect() as client:
                await client.send(head)
                took, received = await closed_after(client, body)
            assert served.upstreams["alpha"].calls == []
            await served.assert_serving()
    assert SHORT - 0.1 < took < SHORT + 1.0
    assert received.startswith(b"HTTP/1.1 408"), received


async def test_connections_past_the_cap_are_refused_at_once() -> None:
    with trio.fail_after(10):
        async with serving(server={"max_connections": 4}) as served:
            held = [await served.connect() for _ in range(4)]
            try:
                await held[0].send(chat_request())
                assert (await held[0].reply()).status == 200
                async with await served.connect() as extra:
                    start = trio.current_time()
                    try:
                        await extra.send(chat_request())
                    except trio.BrokenResourceError:
                        pass
                    received = await extra.rest()  # refused: closed, after a 503 if it got there
                    assert trio.current_time() - start < 0.5
                assert received == b"" or received.startswith(b"HTTP/1.1 503"), received
            finally:
                for client in held:
                    await client.stream.aclose()
            await trio.sleep(0.1)
            await served.assert_serving()  # the cap counts open connections, not all ever


async def test_a_kept_alive_connection_is_not_cut_by_the_header_timeout() -> None:
    """A connection that never sends a byte is the keep-alive timeout's (75 s), not the
    header timeout's: it is still open well past the latter."""
    with trio.fail_after(10):
        async with serving(server={"header_timeout": SHORT}) as served:
            async with await served.connect() as client:
                with trio.move_on_after(SHORT * 3):
                    await client.rest()
                    raise AssertionError("an idle connection was cut by the header timeout")
                await client.send(chat_request(headers=dict(AUTH)))
                assert (await client.reply()).status == 200
