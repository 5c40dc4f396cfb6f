"""Performing a reply: turning a `Complete`, `Error`, `Garbage`, `Stall` or `Cut` into bytes.

Each function writes one reply to an `HTTPWire` and returns whether the connection may serve
another request. Plain bodies are Content-Length framed; streams are chunked (h11 picks the
framing), one HTTP chunk per SSE event, so a `Cut` lands exactly between two events.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import h11
import trio

from edge.simulator import payloads
from edge.simulator.replies import (
    Complete,
    Cut,
    Drip,
    Error,
    Garbage,
    SimRequest,
    Stall,
    error_envelope,
)
from edge.simulator.wire import HTTPWire

JSON = "application/json"
SSE = "text/event-stream"


def json_headers(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {"content-type": JSON, **(extra or {})}


async def send_json(wire: HTTPWire, status: int, body: Any, headers: Mapping[str, str]) -> bool:
    await wire.send_response(status, json_headers(headers), payloads.json_bytes(body))
    return True


async def send_error(wire: HTTPWire, reply: Error) -> bool:
    if isinstance(reply.body, bytes):
        headers = {"content-type": "text/plain; charset=utf-8", **reply.headers}
        await wire.send_response(reply.status, headers, reply.body)
        return True
    body = error_envelope(reply.status) if reply.body is None else reply.body
    return await send_json(wire, reply.status, body, reply.headers)


async def send_drip(wire: HTTPWire, reply: Drip) -> None:
    """`reply.prefix`, then its data a byte at a time; then an RST, or silence for ever."""
    if reply.prefix:
        await wire.stream.send_all(reply.prefix)
    for byte in reply.data:
        await wire.stream.send_all(bytes((byte,)))
        await trio.sleep(reply.interval)
    if reply.reset:
        await wire.close(reset=True)
        return
    await trio.sleep_forever()


async def send_garbage(wire: HTTPWire, request: SimRequest, reply: Garbage) -> bool:
    content_type = reply.content_type or (SSE if request.stream else JSON)
    headers = {"content-type": content_type, **reply.headers}
    if reply.hold:
        await wire.send_response(reply.status, headers)
        await wire.send(h11.Data(data=reply.body))
        await trio.sleep_forever()
    await wire.send_response(reply.status, headers, reply.body)
    return True


async def send_complete(
    wire: HTTPWire, request: SimRequest, reply: Complete, envelope: payloads.Envelope
) -> bool:
    if not request.stream:
        body = payloads.completion_body(reply, request, envelope)
        return await send_json(wire, 200, body, reply.headers)
    events = payloads.sse_events(payloads.stream_chunks(reply, request, envelope))
    await wire.send_response(200, _stream_headers(reply))
    for index, event in enumerate(events):
        if index and reply.chunk_delay:
            await trio.sleep(reply.chunk_delay)
        await wire.send(h11.Data(data=event))
    await wire.send(h11.EndOfMessage())
    return True


async def send_partial(
    wire: HTTPWire, request: SimRequest, reply: Stall | Cut, envelope: payloads.Envelope
) -> bool:
    """Headers and part of the reply, then silence (Stall) or a closed socket (Cut)."""
    complete = reply.reply
    if request.stream:
        events = payloads.sse_events(payloads.stream_chunks(complete, request, envelope))
        await wire.send_response(200, _stream_headers(complete))
        for index, event in enumerate(events[: reply.after_chunks]):
            if index and complete.chunk_delay:
                await trio.sleep(complete.chunk_delay)
            await wire.send(h11.Data(data=event))
    else:
        body = payloads.json_bytes(payloads.completion_body(complete, request, envelope))
        headers = json_headers({"content-length": str(len(body)), **complete.headers})
        await wire.send_response(200, headers)
        await wire.send(h11.Data(data=body[: len(body) // 2]))
    if isinstance(reply, Stall):
        await trio.sleep_forever()
    await wire.close(reset=reply.reset)
    return False


def _stream_headers(reply: Complete) -> dict[str, str]:
    return {"content-type": SSE, "cache-control": "no-cache", **reply.headers}
