"""What baton reads from an upstream is bounded, counted once decoded: a whole reply by
`max_response_bytes`, a stream's line or event by `max_event_bytes`, and a body compressed
though `identity` was asked for is decoded in bounded pieces (a gzip bomb stays small).
Each bound is a `malformed` failure before the commit point and a broken stream after it."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

import trio

from actors.messages import AttemptStreaming, AttemptSucceeded, StreamEnded
from protocols.failures import FailureClass
from tests.actors.provider_rig import (
    COMPLETION,
    DONE,
    END_CHUNKED,
    ROLE,
    STREAM,
    attempt,
    chunk,
    http_reply,
    provider,
    read_all,
    running,
    sse_chunk,
)
from tests.actors.raw_upstream import Peer, answering, start_upstream
from tests.actors.test_upstream_failures import broken_stream, failure_of, then

MIB = 1024 * 1024
BOMB = gzip.compress(b"\0" * 64 * MIB, compresslevel=9)  # about 64 KiB on the wire
GZIP = b"content-encoding: gzip\r\n"
SSE_GZIP = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-encoding: gzip\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)


@contextmanager
def peak_memory(limit: int) -> Iterator[None]:
    """Fail if Python's allocations peak `limit` bytes above where they were at the start."""
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        yield
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - base < limit, f"peaked {(peak - base) / MIB:.1f} MiB above the start"


async def test_a_gzip_bomb_is_malformed_and_never_decoded_whole(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        upstream = await start_upstream(nursery, answering(http_reply(BOMB, extra=GZIP)))
        with peak_memory(8 * MIB):
            failure = await failure_of(upstream.url, max_response_bytes=MIB)
    assert failure.failure is FailureClass.MALFORMED
    assert failure.message == f"upstream reply is over max_response_bytes ({MIB} bytes)"


async def test_a_gzip_bomb_in_a_stream_is_malformed_at_the_event_bound(
    nursery: trio.Nursery,
) -> None:
    bomb = gzip.compress(b"data: " + b"x" * 64 * MIB, compresslevel=9)
    with trio.fail_after(5):
        upstream = await start_upstream(nursery, then(SSE_GZIP, sse_chunk(bomb), hold=True))
        with peak_memory(8 * MIB):
            failure = await failure_of(upstream.url, stream=True)
    assert failure.failure is FailureClass.MALFORMED
    assert failure.message == (
        f"upstream sent an event-stream line over {MIB} bytes (max_event_bytes)"
    )


async def test_a_compressed_reply_within_the_bounds_is_served(nursery: trio.Nursery) -> None:
    deflated = http_reply(zlib.compress(COMPLETION), extra=b"content-encoding: deflate\r\n")
    with trio.fail_after(5):
        upstream = await start_upstream(nursery, answering(deflated))
        async with running(provider(upstream.url)) as actor:
            outcome = await actor.attempt(attempt())
    assert isinstance(outcome, AttemptSucceeded) and outcome.body == COMPLETION


async def test_a_compressed_stream_is_served(nursery: trio.Nursery) -> None:
    packed = gzip.compress(b"".join(STREAM) + DONE)
    pieces = [sse_chunk(packed[i : i + 7]) for i in range(0, len(packed), 7)]
    with trio.fail_after(5):
        upstream = await start_upstream(nursery, then(SSE_GZIP, *pieces, END_CHUNKED))
        async with running(provider(upstream.url)) as actor:
            outcome = await actor.attempt(attempt(stream=True))
            assert isinstance(outcome, AttemptStreaming), outcome
            data, end = await read_all(outcome)
    assert isinstance(end, StreamEnded)
    assert b"one " in data and b"two" in data


async def test_a_coding_baton_did_not_ask_for_is_malformed(nursery: trio.Nursery) -> None:
    reply = http_reply(COMPLETION, extra=b"content-encoding: br\r\n")
    with trio.fail_after(5):
        upstream = await start_upstream(nursery, answering(reply))
        failure = await failure_of(upstream.url)
    assert failure.failure is FailureClass.MALFORMED
    assert "content-encoding 'br'" in failure.message


async def endless_line(peer: Peer, first: bytes = b"") -> None:
    """A stream (after `first`) whose one line never ends."""
    await peer.read_request()
    await peer.send(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n")
    await peer.send(b"transfer-encoding: chunked\r\n\r\n")
    if first:
        await peer.send(sse_chunk(first))
    await peer.send(sse_chunk(b"data: "))
    while True:
        await peer.send(sse_chunk(b"x" * 16_000))


async def test_an_endless_line_is_malformed_at_max_event_bytes(nursery: trio.Nursery) -> None:
    with trio.fail_after(2):  # not the idle timeout, nor the 8 MiB without an event
        upstream = await start_upstream(nursery, endless_line)
        failure = await failure_of(upstream.url, stream=True, max_event_bytes=64 * 1024)
    assert failure.failure is FailureClass.MALFORMED
    assert failure.message == (
        "upstream sent an event-stream line over 65536 bytes (max_event_bytes)"
    )


async def test_an_endless_line_after_content_breaks_the_stream(nursery: trio.Nursery) -> None:
    async def handler(peer: Peer) -> None:
        await endless_line(peer, ROLE + chunk({"content": "one "}))

    with trio.fail_after(2):
        upstream = await start_upstream(nursery, handler)
        failure = await broken_stream(upstream.url, max_event_bytes=64 * 1024)
    assert failure.failure is FailureClass.MALFORMED
    assert "line over 65536 bytes" in failure.message
