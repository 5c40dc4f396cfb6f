"""A server under test for `edge.wire`, and a raw-socket client that speaks exact bytes.

`serving(handler)` runs `serve_http` on 127.0.0.1:0 with a test's handler (plus `/alive`,
always answered, to show the server still serves); an exception out of `serve_http` is kept
in `Served.crash` and fails the test. `Client` writes bytes as given and reads replies
strictly: status line, headers, then a body framed by content-length, chunked encoding or
the end of the connection, keeping every byte received in `Parsed.raw`.
"""

from __future__ import annotations

import json
import socket
import struct
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio

from edge.wire import Reply, Request, StreamReply, TakeOver, bind_sockets, serve_http

Answer = Reply | StreamReply | TakeOver
Handler = Callable[[Request], Awaitable[Answer]]

ALIVE = b"GET /alive HTTP/1.1\r\nhost: test\r\n\r\n"


@attrs.define
class Served:
    port: int = 0
    url: str = ""
    stop: trio.Event = attrs.Factory(trio.Event)  # set: serve_http's shutdown trigger returns
    done: trio.Event = attrs.Factory(trio.Event)  # set: serve_http has returned (or raised)
    crash: BaseException | None = None

    async def connect(self) -> Client:
        return Client(await trio.open_tcp_stream("127.0.0.1", self.port))

    async def assert_serving(self) -> None:
        """A fresh connection is answered: nothing a client did brought the server down."""
        try:
            async with await self.connect() as client:
                await client.send(ALIVE)
                data = (await client.reply()).raw
        except (OSError, trio.BrokenResourceError, AssertionError):
            data = b""  # refused, reset or closed: the crash, if any, is what to report
        if not data.startswith(b"HTTP/1.1 200 "):
            with trio.move_on_after(1):
                await self.done.wait()
        assert self.crash is None, f"serve_http died: {self.crash!r}"
        assert data.startswith(b"HTTP/1.1 200 "), data


@asynccontextmanager
async def serving(
    handler: Handler, *, max_body: int = 1000, **options: Any
) -> AsyncIterator[Served]:
    """serve_http with `handler` in a nursery of its own; `options` go to serve_http."""
    served = Served()

    async def answer(request: Request) -> Answer:
        if request.path == "/alive":
            return Reply(200, {"content-type": "text/plain"}, b"alive")
        return await handler(request)

    async def run(task_status: trio.TaskStatus[list[str]]) -> None:
        try:
            await serve_http(
                answer,
                bind_sockets("127.0.0.1", 0),
                max_body=max_body,
                shutdown_trigger=served.stop.wait,
                task_status=task_status,
                **options,
            )
        except* Exception as group:  # kept for the test to see: the server must never raise
            served.crash = group
        finally:
            served.done.set()

    async with trio.open_nursery() as nursery:
        urls = await nursery.start(run)
        served.url = urls[0]
        served.port = int(served.url.rsplit(":", 1)[1])
        yield served
        assert served.crash is None, f"serve_http died: {served.crash!r}"
        nursery.cancel_scope.cancel()


@attrs.frozen
class Parsed:
    """One reply as the client read it."""

    status: int
    reason: str
    headers: dict[str, str]  # lower-case names; a repeated name fails the read
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


class Client:
    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = bytearray()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stream.aclose()

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def reset(self) -> None:
        """Close with a TCP reset (SO_LINGER 0), as a killed process leaves a connection."""
        self.stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await self.stream.aclose()

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
        version, status, reason = status_line.split(" ", 2)
        assert version == "HTTP/1.1", status_line
        headers: dict[str, str] = {}
        for line in lines:
            name, sep, value = line.partition(":")
            assert sep and name == name.strip(), line
            assert name.lower() not in headers, f"repeated header {name}: {head!r}"
            headers[name.lower()] = value.strip()
        raw = bytearray(head)
        chunks: list[bytes] | None = None
        if to_head or int(status) in (100, 204, 304):
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
        return Parsed(int(status), reason, headers, body, bytes(raw), chunks)


class Pieces:
    """A StreamReply's chunks under the test's control.

    Each item is given in turn: bytes are yielded, an Event is waited for, an exception is
    raised, None waits for ever. `closed` is set by `aclose()`; `cancelled` says a wait was
    cancelled."""

    def __init__(self, *items: bytes | trio.Event | Exception | None) -> None:
        self.items: deque[bytes | trio.Event | Exception | None] = deque(items)
        self.closed = trio.Event()
        self.close_calls = 0
        self.cancelled = False
        self.yielded = 0

    def __aiter__(self) -> Pieces:
        return self

    async def __anext__(self) -> bytes:
        try:
            while self.items:
                item = self.items.popleft()
                if isinstance(item, bytes):
                    self.yielded += 1
                    return item
                if isinstance(item, Exception):
                    raise item
                if item is None:
                    await trio.sleep_forever()
                else:
                    await item.wait()
        except trio.Cancelled:
            self.cancelled = True
            raise
        raise StopAsyncIteration

    async def aclose(self) -> None:
        self.close_calls += 1
        self.closed.set()


def raw_request(
    method: str = "GET",
    target: str = "/",
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
