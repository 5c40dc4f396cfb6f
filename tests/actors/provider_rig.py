"""What the provider actor's tests share: a provider config pointing at a fake upstream, a
running actor, attempts to send it, the bytes a fake upstream answers with, and a reader for
committed streams."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio

from actors.messages import Attempt, AttemptStreaming, StreamBroke, StreamData, StreamEnded
from actors.provider import ProviderActor
from config.model import Credential, ProviderConfig, Target, Timeouts
from protocols.chat import ChatRequest

SECRET = "sk-test-SECRET-0123456789abcdef"
KEY = Credential("ALPHA_KEY", SECRET)
TIMEOUTS = Timeouts(connect=1.0, first_byte=1.0, idle=1.0, total=10.0)


def provider(base_url: str, **options: Any) -> ProviderConfig:
    return ProviderConfig(name="alpha", base_url=base_url, keys=(KEY,), **options)


def attempt(*, stream: bool = False, model: str = "m") -> Attempt:
    body = {"model": "vm", "stream": stream, "messages": [{"role": "user", "content": "hi"}]}
    request = ChatRequest.from_body(json.dumps(body).encode())
    return Attempt(Target("alpha", model), KEY, request)


@asynccontextmanager
async def running(
    config: ProviderConfig, timeouts: Timeouts = TIMEOUTS
) -> AsyncIterator[ProviderActor]:
    """A provider actor serving for the body of the block, stopped after it."""
    async with trio.open_nursery() as nursery:
        actor = ProviderActor(config, timeouts)
        await nursery.start(actor.run)
        try:
            yield actor
        finally:
            nursery.cancel_scope.cancel()


async def read_all(outcome: AttemptStreaming) -> tuple[bytes, StreamEnded | StreamBroke]:
    """Every byte of a committed stream, and how it ended; the stream is closed."""
    data = bytearray(outcome.first)
    try:
        while True:
            event = await outcome.upstream.next_event()
            if not isinstance(event, StreamData):
                return bytes(data), event
            data += event.data
    finally:
        await outcome.upstream.aclose()


# -- what fake upstreams answer ------------------------------------------------------------------

COMPLETION = json.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
).encode()


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> bytes:
    """One SSE event of a Chat stream."""
    payload: dict[str, Any] = {"id": "c", "object": "chat.completion.chunk", "model": "m"}
    if delta is not None or finish is not None:
        payload["choices"] = [{"index": 0, "delta": delta or {}, "finish_reason": finish}]
    payload.update(extra)
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


ROLE = chunk({"role": "assistant"})
USAGE = chunk(choices=[], usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5})
STREAM = [ROLE, chunk({"content": "one "}), chunk({"content": "two"}), chunk(finish="stop")]
DONE = b"data: [DONE]\n\n"


def http_reply(
    body: bytes, status: int = 200, content_type: str = "application/json", extra: bytes = b""
) -> bytes:
    """A whole HTTP/1.1 response with a content-length."""
    return (
        b"HTTP/1.1 %d X\r\ncontent-type: %s\r\ncontent-length: %d\r\n%s\r\n"
        % (status, content_type.encode(), len(body), extra)
        + body
    )


SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
)


def sse_chunk(data: bytes) -> bytes:
    """`data` as one piece of a chunked body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


END_CHUNKED = b"0\r\n\r\n"


@attrs.frozen
class Recorded:
    """A request as a fake upstream received it."""

    head: bytes
    body: bytes

    @classmethod
    def of(cls, raw: bytes) -> Recorded:
        head, _, body = raw.partition(b"\r\n\r\n")
        return cls(head, body)

    def header(self, name: bytes) -> bytes | None:
        for line in self.head.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == name:
                return value.strip()
        return None
