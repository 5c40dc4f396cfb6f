"""One client connection: HTTP/1.1 requests parsed by httptools, replies written back.

One task per connection. What the socket gives is fed to the parser; each complete request
is handed to the handler in turn (pipelined requests wait their turn, answered in order).
While a request is handled and its reply written, a watcher task reads the socket: end of
file means the client left, and the handling is cancelled, the call and its upstream request
with it. What the watcher reads instead (a pipelined next request) goes to the parser.

Limits: a request head of at most 64 KiB (431), a body of at most `max_body` bytes (413;
a declared length over it is refused before the body is read), `keepalive_timeout` of
silence between requests, `read_timeout` of silence inside one. Every refusal carries the
OpenAI error envelope and closes the connection.
"""

from __future__ import annotations

from collections import deque
from urllib.parse import unquote

import httptools
import trio
from loguru import logger

from edge.wire.messages import Handler, Reply, Request, StreamReply, TakeOver
from edge.wire.replay import ReplayStream
from edge.wire.writing import chunk, head, last_chunk, refusal
from protocols.errors import BadRequest, CallerError, PayloadTooLarge

MAX_HEAD = 64 * 1024
_RECEIVE = 65536
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class HeadTooLarge(CallerError):
    status = 431
    code = "request_header_fields_too_large"


class _Parse:
    """The parser's callbacks: they collect each request whole into `ready`."""

    __slots__ = (
        "body",
        "expect_continue",
        "head_bytes",
        "head_done",
        "headers",
        "max_body",
        "parser",
        "ready",
        "size",
        "started",
        "too_large",
        "url",
    )

    def __init__(self, max_body: int) -> None:
        self.max_body = max_body
        self.ready: deque[Request] = deque()
        self.parser = httptools.HttpRequestParser(self)
        self.started = False
        self.head_bytes = 0
        self.too_large = False
        self._reset()

    def _reset(self) -> None:
        self.url = b""
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.size = 0
        self.head_done = False
        self.expect_continue = False

    def feed(self, data: bytes) -> None:
        if not self.head_done:
            self.head_bytes += len(data)
        self.parser.feed_data(data)

    def on_message_begin(self) -> None:
        self._reset()
        self.started = True

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        old = self.headers.get(key)
        self.headers[key] = text if old is None else f"{old}, {text}"

    def on_headers_complete(self) -> None:
        self.head_done = True
        length = self.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            self.too_large = True
        self.expect_continue = self.headers.get("expect", "").lower() == "100-continue"

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size > self.max_body:
            self.too_large = True
        elif not self.too_large:
            self.body.append(body)

    def on_message_complete(self) -> None:
        parser = self.parser
        path, _, query = self.url.decode("latin-1").partition("?")
        if "%" in path:
            path = unquote(path)
        body = self.body[0] if len(self.body) == 1 else b"".join(self.body)
        self.ready.append(
            Request(
                parser.get_method().decode("ascii"),
                path,
                query,
                self.headers,
                body,
                parser.get_http_version() == "1.1",
                parser.should_keep_alive(),
            )
        )
        self.started = False
        self.head_bytes = 0


class Connection:
    def __init__(
        self,
        stream: trio.SocketStream,
        handler: Handler,
        *,
        max_body: int,
        keepalive_timeout: float,
        read_timeout: float,
        closing: trio.Event,
    ) -> None:
        self.stream = stream
        self.handler = handler
        self.keepalive_timeout = keepalive_timeout
        self.read_timeout = read_timeout
        self.closing = closing
        self.parse = _Parse(max_body)
        self.max_body = max_body
        self.eof = False
        self.leftover = b""  # what followed an upgrade request
        self._idle: trio.CancelScope | None = None

    def stop_if_idle(self) -> None:
        """The server is stopping: a connection waiting for its next request ends now."""
        if self._idle is not None:
            self._idle.cancel()

    async def run(self) -> None:
        try:
            while not self.closing.is_set():
                request = await self._next_request()
                if request is None or not await self._serve(request):
                    return
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            await trio.aclose_forcefully(self.stream)

    # -- reading ------------------------------------------------------------------------------

    async def _next_request(self) -> Request | None:
        """The next whole request; None when the connection should end (refusals are sent)."""
        parse = self.parse
        while not parse.ready:
            if self.eof:
                return None
            data = b""
            if parse.started:
                with trio.move_on_after(self.read_timeout):
                    data = await self.stream.receive_some(_RECEIVE)
            elif not self.closing.is_set():
                with trio.move_on_after(self.keepalive_timeout) as self._idle:
                    data = await self.stream.receive_some(_RECEIVE)
                self._idle = None
            if not data:
                return None  # the client closed, or fell silent
            refused = self._feed(data)
            if refused is not None:
                await self.stream.send_all(refused)
                return None
            if parse.expect_continue and not parse.ready:
                parse.expect_continue = False
                await self.stream.send_all(_CONTINUE)
        return parse.ready.popleft()

    def _feed(self, data: bytes) -> bytes | None:
        """Feed the parser; the bytes of a refusal when the request cannot be served."""
        parse = self.parse
        try:
            parse.feed(data)
        except httptools.HttpParserUpgrade as upgrade:
            if parse.ready:
                request = parse.ready[-1]
                request.upgrade = True
                self.leftover = data[upgrade.args[0] :]
                self.eof = True  # nothing more is parsed: the request takes the connection
            return None
        except httptools.HttpParserError:
            return refusal(BadRequest("the request is not valid HTTP/1.1"))
        if parse.too_large:
            return refusal(PayloadTooLarge(f"the request body exceeds {self.max_body} bytes"))
        if not parse.head_done and parse.started and parse.head_bytes > MAX_HEAD:
            return refusal(HeadTooLarge("the request head exceeds 64 KiB"))
        return None

    # -- serving -------------------------------------------------------------------------------

    async def _serve(self, request: Request) -> bool:
        """Answer one request; True to keep the connection for the next one."""
        if request.upgrade:
            return await self._take_over(request)
        keep = request.keep_alive and not self.closing.is_set()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._watch, nursery.cancel_scope)
            try:
                reply = await self.handler(request)
            except Exception:
                logger.exception("unhandled error serving {} {}", request.method, request.path)
                reply = Reply(500, {"content-type": "application/json"}, _INTERNAL)
                keep = False
            if isinstance(reply, StreamReply):
                keep = await self._write_stream(request, reply, keep)
            else:
                assert isinstance(reply, Reply), reply
                body = b"" if request.method == "HEAD" else reply.body
                await self.stream.send_all(
                    head(reply.status, reply.headers, len(reply.body), keep) + body
                )
            nursery.cancel_scope.cancel()
        return keep and not self.eof

    async def _write_stream(self, request: Request, reply: StreamReply, keep: bool) -> bool:
        chunked = request.http11
        try:
            await self.stream.send_all(
                head(reply.status, reply.headers, None, keep and chunked, chunked=chunked)
            )
            async for piece in reply.chunks:
                if piece:
                    await self.stream.send_all(chunk(piece) if chunked else piece)
            if chunked:
                await self.stream.send_all(last_chunk())
        finally:
            with trio.CancelScope(shield=True):
                await reply.chunks.aclose()
        return keep and chunked

    async def _watch(self, handling: trio.CancelScope) -> None:
        """Read while a request is served: the end of the stream cancels `handling`."""
        while True:
            try:
                data = await self.stream.receive_some(_RECEIVE)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            if not data:
                self.eof = True
                handling.cancel()
                return
            if self._feed(data) is not None or len(self.parse.ready) > 8:
                self.eof = True  # answer what is in hand, then close: nothing more is read
                return

    async def _take_over(self, request: Request) -> bool:
        reply = await self.handler(request)
        if isinstance(reply, TakeOver):
            await reply.serve(ReplayStream(request, self.leftover, self.stream))
        elif isinstance(reply, Reply):
            await self.stream.send_all(head(reply.status, reply.headers, len(reply.body), False))
            await self.stream.send_all(reply.body)
        return False


_INTERNAL = (
    b'{"error":{"message":"internal gateway error","type":"server_error",'
    b'"param":null,"code":"internal_error"}}'
)
