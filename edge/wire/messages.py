"""What the edge's handler is given and what it gives back.

A handler is `async def handler(request: Request) -> Reply | StreamReply | TakeOver`. The
connection writes the reply; a `StreamReply`'s chunks are written as they come (chunked
transfer encoding) and its `aclose()` always runs, however the stream ends, so a client that
leaves mid-stream cancels whatever produces it. A `TakeOver` hands the connection's byte
stream to its `serve` (a WebSocket upgrade) and the connection ends when `serve` returns.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Protocol
from urllib.parse import parse_qsl

import attrs
import trio

from edge.wire.request_id import request_id_for


class Request:
    """One parsed request. `headers` maps lower-case names to values (repeats joined by ", ");
    `path` is percent-decoded, `target` is what the client sent. `request_id` names it in
    logs and in the reply's `x-request-id`: the client's own when valid, else a fresh one
    (see `edge.wire.request_id`)."""

    __slots__ = (
        "_args",
        "body",
        "client",
        "headers",
        "http11",
        "keep_alive",
        "method",
        "path",
        "query",
        "request_id",
        "target",
        "upgrade",
    )

    def __init__(
        self,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        http11: bool = True,
        keep_alive: bool = True,
        upgrade: bool = False,
        target: str = "",
        request_id: str | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.http11 = http11
        self.keep_alive = keep_alive
        self.upgrade = upgrade
        self.target = target  # the request target as sent (path not decoded, query included)
        self._args: dict[str, str] | None = None
        # what names this request in logs, request logs and the reply's `x-request-id`
        self.request_id = request_id or request_id_for(headers)
        self.client: str | None = None  # the client key's id (`client#1`), once authenticated

    @property
    def args(self) -> Mapping[str, str]:
        """The query string's parameters (the first value of a repeated one)."""
        if self._args is None:
            args: dict[str, str] = {}
            for name, value in parse_qsl(self.query, keep_blank_values=True):
                args.setdefault(name, value)
            self._args = args
        return self._args

    def __repr__(self) -> str:  # never the headers or body: they carry keys and prompts
        return f"Request({self.method} {self.path} {self.request_id})"


@attrs.frozen
class Reply:
    """A whole reply, written with a content-length."""

    status: int
    headers: Mapping[str, str]
    body: bytes = attrs.field(repr=False)


class Chunks(Protocol):
    def __aiter__(self) -> AsyncIterator[bytes]: ...
    async def aclose(self) -> None: ...


@attrs.frozen
class StreamReply:
    """A reply whose body is written piece by piece as `chunks` yields it."""

    status: int
    headers: Mapping[str, str]
    chunks: Chunks = attrs.field(repr=False)


@attrs.frozen
class TakeOver:
    """Hand the connection to `serve`, given a stream that first replays the request's own
    bytes (for a WebSocket handshake) and then reads the socket, and the server's `closing`
    event: set when the server stops, so a long-lived socket can say goodbye in its own terms
    (a WebSocket: close code 1001) instead of holding the stop for its whole grace period."""

    serve: Callable[[trio.abc.Stream, trio.Event], Awaitable[None]]


Handler = Callable[[Request], Awaitable[Reply | StreamReply | TakeOver]]
