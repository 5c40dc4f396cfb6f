"""Raw fake upstreams for the provider actor's tests: trio servers on 127.0.0.1:0 (plain or TLS)
that send exactly the bytes a test gives them, broken HTTP included, and record what they
receive and how many connections they got."""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from functools import partial

import attrs
import trio

OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


@attrs.define
class Upstream:
    scheme: str = "http"
    port: int = 0
    connections: int = 0
    requests: list[bytes] = attrs.Factory(list)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"


@attrs.define
class Peer:
    """The server's side of one connection, reading whole requests (head and sized body)."""

    stream: trio.abc.Stream
    upstream: Upstream
    buffer: bytearray = attrs.Factory(bytearray)

    async def read_request(self) -> bytes | None:
        """The next request as received, or None if the client closed the connection."""
        while b"\r\n\r\n" not in self.buffer:
            if not await self._fill():
                return None
        head_end = self.buffer.index(b"\r\n\r\n") + 4
        length = 0
        for line in bytes(self.buffer[:head_end]).split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(self.buffer) < head_end + length:
            if not await self._fill():
                return None
        request = bytes(self.buffer[: head_end + length])
        del self.buffer[: head_end + length]
        self.upstream.requests.append(request)
        return request

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def wait_eof(self) -> None:
        """Return once the client closed (or reset) the connection."""
        try:
            while await self.stream.receive_some(65536):
                pass
        except trio.BrokenResourceError:
            pass

    async def _fill(self) -> bool:
        data = await self.stream.receive_some(65536)
        self.buffer += data
        return bool(data)


Handler = Callable[[Peer], Awaitable[None]]


def answering(*responses: bytes) -> Handler:
    """A handler sending `responses` in turn, one per request, the last one for all after."""

    async def handler(peer: Peer) -> None:
        index = 0
        while await peer.read_request() is not None:
            await peer.send(responses[min(index, len(responses) - 1)])
            index += 1

    return handler


async def start_upstream(
    nursery: trio.Nursery, handler: Handler, *, tls: ssl.SSLContext | None = None
) -> Upstream:
    upstream = Upstream(scheme="https" if tls else "http")

    async def on_connection(stream: trio.abc.Stream) -> None:
        upstream.connections += 1
        try:
            await handler(Peer(stream, upstream))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the client went away: that is what several tests are about

    if tls is None:
        serve = partial(trio.serve_tcp, on_connection, 0, host="127.0.0.1")
        listeners = await nursery.start(serve)
        upstream.port = listeners[0].socket.getsockname()[1]
    else:
        serve = partial(
            trio.serve_ssl_over_tcp, on_connection, 0, tls, host="127.0.0.1", https_compatible=True
        )
        listeners = await nursery.start(serve)
        upstream.port = listeners[0].transport_listener.socket.getsockname()[1]
    return upstream
