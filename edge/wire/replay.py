"""A connection's byte stream handed to a WebSocket server, replaying the upgrade request.

The HTTP parser has already read the handshake request; trio-websocket (wsproto) wants to read
it itself. `ReplayStream` first gives back the request as bytes, then whatever followed it,
then reads the socket.
"""

from __future__ import annotations

import trio

from edge.wire.messages import Request


def request_bytes(request: Request) -> bytes:
    lines = [f"{request.method} {request.target} HTTP/1.1\r\n"]
    lines += [f"{name}: {value}\r\n" for name, value in request.headers.items()]
    lines.append("\r\n")
    return "".join(lines).encode("latin-1")


class ReplayStream(trio.abc.Stream):
    def __init__(self, request: Request, leftover: bytes, stream: trio.SocketStream) -> None:
        self._pending = request_bytes(request) + leftover
        self.transport = stream

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._pending:
            size = len(self._pending) if max_bytes is None else max_bytes
            data, self._pending = self._pending[:size], self._pending[size:]
            await trio.lowlevel.checkpoint()
            return data
        return await self.transport.receive_some(max_bytes)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.transport.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.transport.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self.transport.aclose()
