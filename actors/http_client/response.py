"""A response whose head is in and whose body is read on demand.

The body comes off the connection one network read at a time: `iter_raw()` yields what each
read brought (de-chunked, and decoded if the server used gzip or deflate), `read()` gathers it
all. The response is its own body iterator, so `iter_raw()` allocates nothing and closing the
iterator (`contextlib.aclosing`) closes the response.

Where the connection goes:
- body read to its end (or the response had none): back to the client's pool, if the server
  keeps it alive; this happens as soon as the end is seen, and `aclose()` is then a no-op;
- `aclose()` before the end: closed, not drained (draining could wait on a stalled upstream);
- any error or cancellation while reading: closed by the connection itself.

A cancelled read leaves the response unusable: call `aclose()` (always harmless) and move on.
"""

from __future__ import annotations

import zlib
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

import trio

from actors.http_client.errors import RemoteProtocolError
from actors.http_client.message import Headers

if TYPE_CHECKING:
    from actors.http_client.client import HttpClient
    from actors.http_client.connection import Connection

__all__ = ["Response"]


class _Decoder(Protocol):
    def decompress(self, data: bytes, /) -> bytes: ...
    def flush(self) -> bytes: ...


class _DeflateDecoder:
    """`deflate` should be zlib-wrapped (RFC 9110) but some servers send it raw."""

    __slots__ = ("_inner", "_started")

    def __init__(self) -> None:
        self._inner = zlib.decompressobj()
        self._started = False

    def decompress(self, data: bytes, /) -> bytes:
        if self._started:
            return self._inner.decompress(data)
        self._started = True
        try:
            return self._inner.decompress(data)
        except zlib.error:
            self._inner = zlib.decompressobj(-zlib.MAX_WBITS)
            return self._inner.decompress(data)

    def flush(self) -> bytes:
        return self._inner.flush()


def _decoder_for(coding: str | None) -> _Decoder | None:
    """gzip and deflate are decoded; identity and codings we do not know pass through."""
    if coding is None:
        return None
    coding = coding.strip().lower()
    if coding in ("gzip", "x-gzip"):
        return zlib.decompressobj(zlib.MAX_WBITS | 16)
    if coding == "deflate":
        return _DeflateDecoder()
    return None


class Response:
    """`status` and `headers` of a reply, and its body to read once."""

    __slots__ = ("_client", "_connection", "_content", "_decoder", "_released", "headers", "status")

    def __init__(self, client: HttpClient, connection: Connection) -> None:
        self.status = connection.status
        self.headers: Headers = connection.headers
        self._client = client
        self._connection: Connection | None = connection
        self._decoder = _decoder_for(self.headers.get("content-encoding"))
        self._content: bytes | None = None
        self._released = False  # True once the body ended and the connection went back

    def __repr__(self) -> str:
        return f"<Response {self.status}>"

    async def read(self) -> bytes:
        """The whole body, or what is left of it if `iter_raw()` already took some."""
        if self._content is None:
            pieces = [piece async for piece in self]
            self._content = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        return self._content

    def iter_raw(self) -> Response:
        """The body as it arrives, one piece per network read."""
        return self

    def __aiter__(self) -> Response:
        return self

    async def __anext__(self) -> bytes:
        connection = self._connection
        if connection is None:
            if self._released:
                raise StopAsyncIteration
            raise trio.ClosedResourceError("the response was closed before its body ended")
        decoder = self._decoder
        while True:
            piece = await connection.receive_body()
            if piece is None:
                break
            if decoder is None:
                return piece
            try:
                piece = decoder.decompress(piece)
            except zlib.error as exc:
                raise self._undecodable(connection) from exc
            if piece:
                return piece
        tail = b""
        if decoder is not None:
            self._decoder = None
            try:
                tail = decoder.flush()
            except zlib.error as exc:
                raise self._undecodable(connection) from exc
        self._connection = None
        self._released = True
        self._client._release(connection)
        if tail:
            return tail
        raise StopAsyncIteration

    def _undecodable(self, connection: Connection) -> RemoteProtocolError:
        connection.close()
        self._connection = None
        coding = self.headers.get("content-encoding")
        return RemoteProtocolError(f"the server sent a {coding} body that does not decode")

    async def aclose(self) -> None:
        """Give the connection back if the body was all received, else close it. Never raises."""
        connection = self._connection
        if connection is not None:
            self._connection = None
            self._client._release(connection)

    async def __aenter__(self) -> Response:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
