"""HTTP/1.1 over a trio stream with h11: read whole requests, write responses event by event.

h11 does the parsing and framing (Content-Length or chunked bodies in both directions,
keep-alive bookkeeping); this class only moves bytes. While a reply is being written,
`wait_for_eof()` may run in a second task: it keeps a receive pending so that a client closing
the connection is noticed at once. Bytes it reads (a pipelined next request) go into h11's
buffer, which is safe because h11 only parses them when `next_event()` is called.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable, Mapping
from http import HTTPStatus

import attrs
import h11
import trio

RECEIVE_SIZE = 65536
PIPELINE_LIMIT = 1 << 20  # stop reading ahead once this much of a next request is buffered


class ClientGone(Exception):
    """The client closed the connection (or reset it) while we were reading a request."""


@attrs.frozen
class RawRequest:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


@attrs.define
class HTTPWire:
    stream: trio.SocketStream
    conn: h11.Connection = attrs.field(factory=lambda: h11.Connection(h11.SERVER))
    eof: bool = False
    _buffered: int = 0

    async def _receive(self) -> bytes:
        if self.eof:
            return b""
        try:
            data = await self.stream.receive_some(RECEIVE_SIZE)
        except trio.BrokenResourceError:
            data = b""
        if not data:
            self.eof = True
        return data

    async def read_request(self) -> RawRequest | None:
        """The next whole request, or None when the client closed between requests.

        Raises h11.RemoteProtocolError for a malformed request, ClientGone for an EOF inside one.
        """
        request: h11.Request | None = None
        body = bytearray()
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                data = await self._receive()
                if not data and request is None and self.conn.their_state is h11.IDLE:
                    return None
                if not data:
                    raise ClientGone
                self.conn.receive_data(data)
            elif isinstance(event, h11.Request):
                request = event
                if self.conn.client_is_waiting_for_100_continue:
                    await self.send(
                        h11.InformationalResponse(status_code=100, headers=[], reason=b"Continue")
                    )
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert request is not None
                self._buffered = 0
                return RawRequest(
                    method=request.method.decode("ascii"),
                    target=request.target.decode("ascii", errors="replace"),
                    headers=_join_headers(request.headers),
                    body=bytes(body),
                )
            elif isinstance(event, h11.ConnectionClosed):
                return None
            else:  # h11.PAUSED cannot happen: we read one request per cycle
                raise h11.RemoteProtocolError(f"unexpected {event!r}")

    async def send(self, *events: h11.Event) -> None:
        """Frame `events` with h11 and write them in one go."""
        data = b"".join(self.conn.send(event) or b"" for event in events)
        await self.stream.send_all(data)

    async def send_response(
        self, status: int, headers: Mapping[str, str], body: bytes | None = None
    ) -> None:
        """Headers, and with `body` the whole message (Content-Length framed)."""
        fields = dict(headers)
        if body is not None:
            fields["content-length"] = str(len(body))
        response = h11.Response(
            status_code=status, headers=list(fields.items()), reason=_reason(status)
        )
        if body is None:
            await self.send(response)
        else:
            await self.send(response, h11.Data(data=body), h11.EndOfMessage())

    @property
    def reply_done(self) -> bool:
        return self.conn.our_state in (h11.DONE, h11.MUST_CLOSE, h11.CLOSED)

    async def wait_for_eof(self) -> None:
        """Return once the client has closed its side; buffer what it sends meanwhile."""
        while True:
            data = await self._receive()
            if not data:
                return
            self.conn.receive_data(data)
            self._buffered += len(data)
            if self._buffered >= PIPELINE_LIMIT:
                await trio.sleep_forever()  # a flood of pipelined requests: stop reading

    def start_next_cycle(self) -> bool:
        """Prepare for the next request on this connection; False if it must close."""
        if self.eof or not (self.conn.our_state is self.conn.their_state is h11.DONE):
            return False
        self.conn.start_next_cycle()
        return True

    async def close(self, *, reset: bool = False) -> None:
        if reset:
            # SO_LINGER with a zero timeout makes close() send an RST instead of a FIN.
            linger = struct.pack("ii", 1, 0)
            try:
                self.stream.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            except OSError:
                pass
        with trio.CancelScope(shield=True):
            await self.stream.aclose()


def _reason(status: int) -> bytes:
    """h11 sends an empty reason phrase unless told; send the usual one."""
    try:
        return HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        return b""


def _join_headers(headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    joined: dict[str, str] = {}
    for name, value in headers:
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        joined[key] = f"{joined[key]}, {text}" if key in joined else text
    return joined
