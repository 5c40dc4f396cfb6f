"""One HTTP/1.1 connection to the origin: send a request, parse the response as it arrives.

The connection is its own httptools protocol object. llhttp calls back from inside
`feed_data`, and the callbacks only record: a header pair is appended to a list, a body piece
is appended to another (`on_body` *is* that list's `append`), the head and the end of the
message set flags. Everything else (building the header map, joining pieces, deciding on reuse)
happens in plain code after `feed_data` returns. One parser serves every response of the
connection, as llhttp resets itself between messages.

What llhttp leaves to us:
- It has no "end of input" call in httptools, so a body delimited by the connection closing (no
  content-length, not chunked) never completes in the parser. At EOF we complete it ourselves;
  EOF inside any other body is a `ReadError`.
- It knows nothing of the request, so a HEAD reply is declared complete once its head is in
  (and the connection is not reused, since the parser still waits for a body).
- It clears its keep-alive flags once a message completes, so `should_keep_alive()` is read in
  `on_headers_complete`, not after `feed_data`.
- It has no limit on the head's size: more than 64 KiB received without the head ending is a
  `RemoteProtocolError`.
- Interim 1xx responses come through as whole messages; their head is dropped and their
  completion ignored. A 101 makes httptools raise `HttpParserUpgrade`: a protocol error here.
- Bytes after the end of the response (a second message, junk) mark the connection spent.

Any failure or cancellation inside an I/O call closes the socket at once, synchronously (a
plain `socket.close()` cannot block or raise), so a connection in an unknown state is never
reused and closing never waits on the network.
"""

from __future__ import annotations

import httptools
import trio

from actors.http_client.errors import ReadError, RemoteProtocolError, WriteError
from actors.http_client.message import Headers

__all__ = ["MAX_HEAD_BYTES", "RECEIVE_SIZE", "Connection"]

MAX_HEAD_BYTES = 64 * 1024
RECEIVE_SIZE = 65536


class Connection:
    """A connection and the state of the response currently on it (one at a time)."""

    __slots__ = (
        "_body_end",
        "_complete",
        "_head_done",
        "_keep_alive",
        "_parser",
        "_pieces",
        "_raw_headers",
        "_spent",
        "_stream",
        "headers",
        "idle_since",
        "on_body",
        "socket",
        "status",
    )

    def __init__(self, stream: trio.abc.Stream, socket: trio.socket.SocketType) -> None:
        self._stream = stream
        self.socket = socket  # the TCP socket, under TLS too: for readability checks and close
        self._pieces: list[bytes] = []
        self._raw_headers: list[tuple[bytes, bytes]] = []
        self.on_body = self._pieces.append
        self._parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.headers = Headers([])
        self.idle_since = 0.0
        self._head_done = False
        self._complete = False
        self._keep_alive = False
        self._spent = False
        self._body_end = 0

    # -- httptools callbacks: record, nothing more ------------------------------------------

    def on_message_begin(self) -> None:
        if self._complete:
            self._spent = True  # a second message on a single request: junk

    def on_header(self, name: bytes, value: bytes) -> None:
        self._raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 200:
            self._raw_headers.clear()  # an interim response (100 Continue, 103 Early Hints)
            return
        self.status = status
        self._keep_alive = self._parser.should_keep_alive()
        self._head_done = True

    def on_message_complete(self) -> None:
        if self._head_done and not self._complete:
            self._complete = True
            self._body_end = len(self._pieces)

    # -- I/O ---------------------------------------------------------------------------------

    @property
    def reusable(self) -> bool:
        return self._complete and self._keep_alive and not self._spent

    def close(self) -> None:
        self._spent = True
        self.socket.close()

    async def send(self, request: bytes) -> None:
        """Write a whole request, resetting the response state for its reply."""
        self.status = 0
        self._head_done = self._complete = self._keep_alive = False
        self._pieces.clear()
        self._raw_headers.clear()
        try:
            await self._stream.send_all(request)
        except (trio.BrokenResourceError, OSError) as exc:
            self.close()
            raise WriteError("the connection broke while the request was being sent") from exc
        except BaseException:
            self.close()
            raise

    async def receive_head(self, *, head_only: bool = False) -> None:
        """Read until the final response's head is in; `status` and `headers` are then set."""
        received = 0
        while not self._head_done:
            data = await self._receive()
            if not data:
                self.close()
                raise RemoteProtocolError(
                    "the server closed the connection before the response head ended"
                )
            received += len(data)
            self._feed(data)
            if received > MAX_HEAD_BYTES and not self._head_done:
                self.close()
                raise RemoteProtocolError("the response head is over 64 KiB")
        self.headers = Headers(self._raw_headers)
        if head_only:  # a reply to HEAD: no body, whatever its content-length says
            self._complete = True
            self._spent = True
            self._pieces.clear()

    async def receive_body(self) -> bytes | None:
        """The body bytes that arrived since the last call (at least one byte), None at its end."""
        pieces = self._pieces
        while not pieces:
            if self._complete:
                return None
            data = await self._receive()
            if data:
                self._feed(data)
            elif self._ends_at_eof():
                self._complete = True
                self._spent = True
            else:
                self.close()
                raise ReadError("the server closed the connection in the middle of the body")
        piece = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        pieces.clear()
        return piece

    async def _receive(self) -> bytes:
        try:
            return await self._stream.receive_some(RECEIVE_SIZE)
        except (trio.BrokenResourceError, OSError) as exc:
            self.close()
            raise ReadError("the connection to the server broke") from exc
        except BaseException:
            self.close()
            raise

    def _feed(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.close()
            raise RemoteProtocolError("the server switched protocols") from None
        except httptools.HttpParserError as exc:
            if not self._complete:
                self.close()
                raise RemoteProtocolError(f"malformed response from the server: {exc}") from None
            self._spent = True  # trailing junk after a complete response
        if self._spent and self._complete:
            del self._pieces[self._body_end :]

    def _ends_at_eof(self) -> bool:
        """Whether the body is delimited by the connection closing: no length, not chunked."""
        if not self._head_done or "content-length" in self.headers:
            return False
        coding = self.headers.get("transfer-encoding", "")
        return not coding.lower().rstrip().endswith("chunked")
