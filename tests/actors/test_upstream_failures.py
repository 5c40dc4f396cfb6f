"""Every way an upstream can fail an attempt, over httpx2 against raw fake upstreams that speak
broken HTTP on purpose: each maps to one failure class (and a cut says it was cut), secrets
never show, and the upstream's bytes are bounded."""

from __future__ import annotations

import socket
from typing import Any

import attrs
import pytest
import trio

from actors import upstream_stream
from actors.messages import AttemptFailed, AttemptStreaming, StreamBroke
from config.model import Timeouts
from protocols.failures import CUT, FailureClass, UpstreamFailure
from tests.actors.provider_rig import (
    COMPLETION,
    ROLE,
    SECRET,
    SSE_HEAD,
    TIMEOUTS,
    attempt,
    chunk,
    http_reply,
    provider,
    read_all,
    running,
    sse_chunk,
)
from tests.actors.raw_upstream import Handler, Peer, answering, start_upstream


async def failure_of(
    url: str, *, stream: bool = False, timeouts: Timeouts = TIMEOUTS, **options: Any
) -> UpstreamFailure:
    async with running(provider(url, **options), timeouts) as actor:
        outcome = await actor.attempt(attempt(stream=stream))
    assert isinstance(outcome, AttemptFailed), outcome
    assert SECRET not in repr(outcome)
    return outcome.failure


async def broken_stream(url: str, **options: Any) -> UpstreamFailure:
    async with running(provider(url, **options)) as actor:
        outcome = await actor.attempt(attempt(stream=True))
        assert isinstance(outcome, AttemptStreaming), outcome
        _, end = await read_all(outcome)
    assert isinstance(end, StreamBroke), end
    return end.failure


def then(*parts: bytes, hold: bool = False) -> Handler:
    """Read a request, send `parts`, then close the connection (or keep it silent: `hold`)."""

    async def handler(peer: Peer) -> None:
        await peer.read_request()
        for part in parts:
            await peer.send(part)
        if hold:
            await peer.wait_eof()

    return handler


async def test_connection_refused_is_connect() -> None:
    probe = trio.socket.socket()
    await probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    with trio.fail_after(5):
        failure = await failure_of(f"http://127.0.0.1:{port}/v1")
    assert (failure.failure, failure.code) == (FailureClass.CONNECT, None)


async def test_a_tls_handshake_that_never_ends_is_a_connect_timeout(
    nursery: trio.Nursery,
) -> None:
    async def never_handshake(peer: Peer) -> None:
        await peer.wait_eof()

    # httpx2's own connect timeout ends the handshake. (Cancelling a handshake from outside
    # leaves httpcore2's trio backend to drop the socket unclosed: a ResourceWarning.)
    timeouts = attrs.evolve(TIMEOUTS, connect=0.2)
    with trio.fail_after(5):
        upstream = await start_upstream(nursery, never_handshake)
        failure = await failure_of(upstream.url.replace("http://", "https://"), timeouts=timeouts)
    assert failure.failure is FailureClass.TIMEOUT
    assert failure.message == "upstream timed out while connecting"


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        (b"\x00\x01 garbage, not HTTP at all\r\n\r\n", FailureClass.MALFORMED),
        (b"HTTX/1.1 200 OK\r\n\r\n", FailureClass.MALFORMED),
        (b"", FailureClass.CONNECT),  # accepted, read, closed without a word
    ],
    ids=["garbage", "bad-status-line", "closed-without-answer"],
)
async def test_no_http_answer(nursery: trio.Nursery, reply: bytes, kind: FailureClass) -> None:
    with trio.fail_after(5):
        upstream = await start_upstream(nursery, then(reply))
        failure = await failure_of(upstream.url)
    assert failure.failure is kind


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n"
        b"\r\n1f4\r\n",
    ],
    ids=["content-length", "chunked"],
)
async def test_a_body_cut_mid_reply_says_it_was_cut(nursery: trio.Nursery, head: bytes) -> None:
    with trio.fail_after(5):
        upstream = await start_upstream(nursery, then(head + COMPLETION[:20]))
        failure = await failure_of(upstream.url)
    assert (failure.failure, failure.code) == (FailureClass.CONNECT, CUT)


async def test_a_reset_mid_body_is_a_cut(nursery: trio.Nursery) -> None:
    async def reset(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial")
        sock = peer.stream.socket  # type: ignore[attr-defined]
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")

    with trio.fail_after(5):
        upstream = await start_upstream(nursery, reset)
        failure = await failure_of(upstream.url)
    assert (failure.failure, failure.code) == (FailureClass.CONNECT, CUT)


async def test_a_stream_cut_after_content_ends_broken_with_the_cut_code(
    nursery: trio.Nursery,
) -> None:
    with trio.fail_after(5):
        first = SSE_HEAD + sse_chunk(ROLE + chunk({"content": "one"}))
        upstream = await start_upstream(nursery, then(first))
        failure = await broken_stream(upstream.url)
    assert (failure.failure, failure.code) == (FailureClass.CONNECT, CUT)
    assert "cut" in failure.message


async def test_a_stream_cut_before_content_fails_over(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        upstream = await start_upstream(nursery, then(SSE_HEAD + sse_chunk(ROLE)))
        failure = await failure_of(upstream.url, stream=True)
    assert (failure.failure, failure.code) == (FailureClass.CONNECT, CUT)


@pytest.mark.parametrize(
    ("parts", "stream", "message"),
    [
        ((), False, "upstream sent no reply within 1s"),
        ((SSE_HEAD,), True, "upstream stream stalled before its first event (no event for 1s)"),
        (
            (http_reply(COMPLETION)[:-10],),
            False,
            "upstream stalled for 1s",
        ),
    ],
    ids=["before-head", "before-first-event", "mid-body"],
)
async def test_stalls_are_timeouts(
    nursery: trio.Nursery, parts: tuple[bytes, ...], stream: bool, message: str
) -> None:
    with trio.fail_after(5):
        upstream = await start_upstream(nursery, then(*parts, hold=True))
        failure = await failure_of(upstream.url, stream=stream)
    assert (failure.failure, failure.message) == (FailureClass.TIMEOUT, message)


async def test_a_stream_that_stalls_after_content_ends_broken_by_timeout(
    nursery: trio.Nursery,
) -> None:
    with trio.fail_after(5):
        first = SSE_HEAD + sse_chunk(ROLE + chunk({"content": "one"}))
        upstream = await start_upstream(nursery, then(first, hold=True))
        failure = await broken_stream(upstream.url)
    assert failure.failure is FailureClass.TIMEOUT
    assert failure.message == "upstream stream stalled after it started (no event for 1s)"


async def test_a_body_over_max_response_bytes_is_malformed(nursery: trio.Nursery) -> None:
    big = b'{"choices": [], "padding": "' + b"x" * 100_000 + b'"}'
    with trio.fail_after(5):
        upstream = await start_upstream(nursery, answering(http_reply(big)))
        failure = await failure_of(upstream.url, max_response_bytes=64 * 1024)
    assert failure.failure is FailureClass.MALFORMED
    assert failure.message == "upstream reply is over max_response_bytes (65536 bytes)"


async def test_a_stream_that_never_forms_an_event_is_bounded(
    nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(upstream_stream, "MAX_QUIET_BYTES", 64 * 1024)

    async def endless_line(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(SSE_HEAD)
        while True:
            await peer.send(sse_chunk(b"data: " + b"x" * 16_000))

    with trio.fail_after(5):
        upstream = await start_upstream(nursery, endless_line)
        failure = await failure_of(upstream.url, stream=True)
    assert failure.failure is FailureClass.MALFORMED
    assert "without a whole event" in failure.message


async def test_a_redirect_is_not_followed_and_the_key_stays_home(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        elsewhere = await start_upstream(nursery, answering(http_reply(COMPLETION)))
        location = f"location: {elsewhere.url}/v1/chat/completions\r\n".encode()
        upstream = await start_upstream(
            nursery, answering(http_reply(b"", status=307, extra=location))
        )
        failure = await failure_of(upstream.url + "/v1")
    assert (failure.failure, failure.status) == (FailureClass.SERVER, 307)
    assert "redirect" in failure.message
    assert elsewhere.connections == 0 and elsewhere.requests == []


async def test_an_error_body_echoing_the_key_is_scrubbed(nursery: trio.Nursery) -> None:
    body = b'{"error": {"message": "bad key ' + SECRET.encode() + b'", "type": "server_error"}}'
    with trio.fail_after(5):
        upstream = await start_upstream(nursery, answering(http_reply(body, status=500)))
        failure = await failure_of(upstream.url)
    assert (failure.failure, failure.status) == (FailureClass.SERVER, 500)
    assert SECRET not in failure.message and "bad key" in failure.message


async def test_rate_limit_headers_come_back_with_the_outcome(nursery: trio.Nursery) -> None:
    headers = (
        b"retry-after: 7\r\nx-ratelimit-limit-requests: 60\r\n"
        b"x-ratelimit-remaining-requests: 0\r\nx-ratelimit-reset-requests: 7s\r\n"
    )
    with trio.fail_after(5):
        upstream = await start_upstream(
            nursery, answering(http_reply(b"{}", status=429, extra=headers))
        )
        async with running(provider(upstream.url)) as actor:
            outcome = await actor.attempt(attempt())
    assert isinstance(outcome, AttemptFailed)
    assert (outcome.failure.failure, outcome.failure.retry_after) == (FailureClass.RATE_LIMIT, 7)
    [window] = outcome.windows
    assert (window.window, window.limit, window.remaining) == ("requests", 60, 0)
