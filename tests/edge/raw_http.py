"""A raw-socket HTTP/1.1 client for tests where the exact bytes matter.

`RawClient` writes bytes as given and reads replies strictly: status line, headers (a repeated
name fails the read), then a body framed by content-length, chunked encoding or the end of the
connection, keeping every byte received in `Parsed.raw`. `raw_request` builds a request's
exact bytes, `chunked` a chunked body.
"""

from __future__ import annotations

import json
from typing import Any

import attrs
import trio


@attrs.frozen
class Parsed:
    """One reply as the client read it."""

    version: str
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    raw: bytes
    chunks: list[bytes] | None  # the chunks' payloads, for a chunked body

    def envelope(self) -> dict[str, Any]:
        """The OpenAI error envelope of the body, checked for its exact shape."""
        assert self.headers.get("content-type") == "application/json", self.headers
        payload = json.loads(self.body)
        assert list(payload) == ["error"], payload
        assert set(payload["error"]) == {"message", "type", "param", "code"}, payload
        return payload["error"]


class RawClient:
    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = bytearray()

    @classmethod
    async def connect(cls, port: int) -> RawClient:
        return cls(await trio.open_tcp_stream("127.0.0.1", port))

    async def __aenter__(self) -> RawClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stream.aclose()

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def _fill(self) -> bool:
        """Read more into the buffer; False at the end of the stream (or a reset)."""
        try:
            data = await self.stream.receive_some(65536)
        except trio.BrokenResourceError:
            data = b""
        self.buffer += data
        return bool(data)

    async def until(self, marker: bytes) -> bytes:
        """Everything up to and including `marker`."""
        while marker not in self.buffer:
            if not await self._fill():
                raise AssertionError(f"closed before {marker!r}: {bytes(self.buffer)!r}")
        end = self.buffer.index(marker) + len(marker)
        data = bytes(self.buffer[:end])
        del self.buffer[:end]
        return data

    async def exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if not await self._fill():
                raise AssertionError(f"closed after {bytes(self.buffer)!r}, {size} wanted")
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    async def rest(self) -> bytes:
        """Everything until the server closes the connection."""
        while await self._fill():
            pass
        data = bytes(self.buffer)
        self.buffer.clear()
        return data

    async def assert_closed(self) -> None:
        """The server closes the connection without sending anything more."""
        assert await self.rest() == b""

    async def reply(self, *, to_head: bool = False) -> Parsed:
        """One whole reply; `to_head`: the reply to a HEAD request (no body follows)."""
        head = await self.until(b"\r\n\r\n")
        status_line, *lines = head[:-4].decode("latin-1").split("\r\n")
        version, status = status_line.split(" ", 2)[:2]
        headers: dict[str, str] = {}
        for line in lines:
            name, sep, value = line.partition(":")
            assert sep and name == name.strip(), line
            assert name.lower() not in headers, f"repeated header {name}: {head!r}"
            headers[name.lower()] = value.strip()
        raw = bytearray(head)
        chunks: list[bytes] | None = None
        if to_head or int(status) in (100, 101, 204, 304):
            body = b""
        elif "content-length" in headers:
            assert "transfer-encoding" not in headers, headers
            body = await self.exactly(int(headers["content-length"]))
            raw += body
        elif headers.get("transfer-encoding") == "chunked":
            chunks = []
            while True:
                size_line = await self.until(b"\r\n")
                size = int(size_line[:-2], 16)
                raw += size_line
                if size == 0:
                    raw += await self.exactly(2)
                    assert raw.endswith(b"0\r\n\r\n"), raw[-20:]
                    break
                data = await self.exactly(size + 2)
                assert data.endswith(b"\r\n"), data
                raw += data
                chunks.append(data[:-2])
            body = b"".join(chunks)
        else:
            body = await self.rest()
            raw += body
        return Parsed(version, int(status), headers, body, bytes(raw), chunks)


def raw_request(
    method: str = "GET",
    target: str = "/health",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    *,
    version: str = "HTTP/1.1",
) -> bytes:
    """A request's exact bytes; a body gets a content-length unless headers say otherwise."""
    fields = {"host": "test", **(headers or {})}
    if body and "transfer-encoding" not in fields and "content-length" not in fields:
        fields["content-length"] = str(len(body))
    lines = [f"{method} {target} {version}\r\n"]
    lines += [f"{name}: {value}\r\n" for name, value in fields.items()]
    return "".join(lines).encode("latin-1") + b"\r\n" + body


def chunked(*pieces: bytes) -> bytes:
    """A chunked body of `pieces`, with its last chunk."""
    return b"".join(b"%x\r\n%b\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"
