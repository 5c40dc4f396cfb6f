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

import math
from collections import deque
from urllib.parse import unquote

import httptools
import trio
from loguru import logger

from edge.wire.messages import Handler, Reply, Request, StreamReply, TakeOver
from edge.wire.replay import ReplayStream
from edge.wire.writing import chunk, head, last_chunk, refusal
from protocols.errors import BadRequest, CallerError, NoCandidate, PayloadTooLarge

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
        "head_too_large",
        "headers",
        "max_body",
        "parser",
        "ready",
        "size",
        "started",
        "too_large",
        "unparsed_head",
        "url",
    )

    def __init__(self, max_body: int) -> None:
        self.max_body = max_body
        self.ready: deque[Request] = deque()
        self.parser = httptools.HttpRequestParser(self)
        self.started = False
        self.head_bytes = 0  # URL and header bytes of the request being parsed, as parsed
        self.unparsed_head = 0  # bytes fed while no head was complete: a head that never ends
        self.head_too_large = False
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
            self.unparsed_head += len(data)
        self.parser.feed_data(data)

    @property
    def head_over_limit(self) -> bool:
        if self.head_too_large:
            return True
        return self.started and not self.head_done and self.unparsed_head > MAX_HEAD

    def on_message_begin(self) -> None:
        self._reset()
        self.started = True
        self.head_bytes = 0

    def on_url(self, url: bytes) -> None:
        self.url += url
        self._count_head(len(url))

    def _count_head(self, size: int) -> None:
        self.head_bytes += size
        if self.head_bytes > MAX_HEAD:
            self.head_too_large = True

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)
        if self.head_done:
            return  # a trailer field: counted, never merged into the headers
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
        target = self.url.decode("latin-1")
        path, _, query = target.partition("?")
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
                target=target,
            )
        )
        self.started = False
        self.head_done = False
        self.unparsed_head = 0


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
        self._answering: trio.CancelScope | None = None  # what a stop's end interrupts
        self._interrupted = False

    def interrupt(self) -> None:
        """The server's grace period is over: a call still waiting for its answer is answered
        503, a stream still running is ended with its own in-band error, then the
        connection closes."""
        self._interrupted = True
        if self._answering is not None:
            self._answering.cancel()
        elif self._idle is not None:
            self._idle.cancel()

    def stop_if_idle(self) -> None:
        """The server is stopping: a connection waiting for its next request ends now."""
        if self._idle is not None:
            self._idle.cancel()

    async def run(self) -> None:
        """Serve requests until the client leaves or the server stops. Nothing that goes wrong
        on one connection goes further: this is every connection's barrier."""
        try:
            while not self.closing.is_set():
                request = await self._next_request()
                if request is None or not await self._serve(request):
                    return
        except* (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the client went away mid-reply
        except* Exception as group:
            logger.opt(exception=group).error("connection failed")
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
            rest = data[upgrade.args[0] :]
            if not parse.ready:
                return refusal(BadRequest("the request is not valid HTTP/1.1"))
            request = parse.ready[-1]
            if request.headers.get("upgrade", "").lower() != "websocket":
                return self._without_upgrade(rest)
            request.upgrade = True
            self.leftover = rest
            self.eof = True  # nothing more is parsed: the request takes the connection
            return None
        except httptools.HttpParserError:
            return refusal(BadRequest("the request is not valid HTTP/1.1"))
        if parse.too_large:
            return refusal(PayloadTooLarge(f"the request body exceeds {self.max_body} bytes"))
        if parse.head_over_limit:
            return refusal(HeadTooLarge("the request head exceeds 64 KiB"))
        return None

    def _without_upgrade(self, rest: bytes) -> bytes | None:
        """An upgrade baton does not speak (`h2c`, say): parse the request again as the plain
        HTTP/1.1 request it also is, without its upgrade headers, then what followed it."""
        parse = self.parse
        request = parse.ready.pop()
        headers = {
            name: value
            for name, value in request.headers.items()
            if name not in ("upgrade", "connection", "http2-settings")
        }
        head = [f"{request.method} {request.target} HTTP/1.1\r\n"]
        head += [f"{name}: {value}\r\n" for name, value in headers.items()]
        head.append("connection: close\r\n\r\n")
        parse.parser = httptools.HttpRequestParser(parse)
        return self._feed("".join(head).encode("latin-1") + rest)

    # -- serving -------------------------------------------------------------------------------

    async def _serve(self, request: Request) -> bool:
        """Answer one request; True to keep the connection for the next one. Every log line
        written meanwhile, the reply's streamed body included, carries its request id."""
        with logger.contextualize(request_id=request.request_id):
            if request.upgrade:
                return await self._take_over(request)
            return await self._answer(request)

    async def _answer(self, request: Request) -> bool:
        keep = False
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._watch, nursery.cancel_scope)
            try:
                reply: Reply | StreamReply | TakeOver | None = None
                with trio.CancelScope() as self._answering:
                    if self._interrupted:
                        self._answering.cancel()
                    reply = await self.handler(request)
                self._answering = None
                if self._interrupted:
                    if isinstance(reply, StreamReply):  # made before the cancel could land
                        with trio.CancelScope(shield=True) as closing:
                            closing.deadline = trio.current_time() + _ACLOSE_LIMIT
                            await reply.chunks.aclose()  # its producer, key and record end
                    reply = _shutting_down()
                keep = request.keep_alive and not self.closing.is_set()
                if isinstance(reply, StreamReply):
                    keep = await self._write_stream(request, reply, keep)
                else:
                    await self._write(request, reply, keep)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                keep = False  # the client went away mid-reply
            except Exception:
                logger.exception("unhandled error serving {} {}", request.method, request.path)
                keep = False
                await self._write(request, _internal_error(), keep)
            nursery.cancel_scope.cancel()
        return keep and not self.eof

    async def _write(self, request: Request, reply: Reply | object, keep: bool) -> None:
        if not isinstance(reply, Reply):  # a TakeOver for a request that did not ask for one
            raise TypeError(f"cannot answer {request!r} with {reply!r}")
        data = head(
            reply.status, reply.headers, len(reply.body), keep, request_id=request.request_id
        )
        if request.method != "HEAD":
            data += reply.body
        with trio.move_on_after(WRITE_TIMEOUT) as stuck:
            await self.stream.send_all(data)
        if stuck.cancelled_caught:
            raise trio.BrokenResourceError("the client stopped reading")

    async def _write_stream(self, request: Request, reply: StreamReply, keep: bool) -> bool:
        """Write a stream as it comes; False when the connection cannot carry another reply.
        Each write must finish within WRITE_TIMEOUT, or the client is taken to be gone."""
        chunked = request.http11
        send = self.stream.send_all
        try:
            with trio.CancelScope() as writing:
                self._answering = writing
                if self._interrupted:
                    writing.cancel()
                writing.deadline = trio.current_time() + WRITE_TIMEOUT
                await send(
                    head(
                        reply.status,
                        reply.headers,
                        None,
                        keep and chunked,
                        chunked=chunked,
                        request_id=request.request_id,
                    )
                )
                if request.method == "HEAD":
                    return keep and chunked
                writing.deadline = math.inf
                pieces = reply.chunks.__aiter__()
                while True:
                    try:
                        piece = await pieces.__anext__()
                    except StopAsyncIteration:
                        break
                    except Exception:  # the body's producer failed: cut it short, unterminated
                        logger.exception("stream for {} {} failed", request.method, request.path)
                        return False
                    if piece:
                        writing.deadline = trio.current_time() + WRITE_TIMEOUT
                        await send(chunk(piece) if chunked else piece)
                        writing.deadline = math.inf
                if chunked:
                    writing.deadline = trio.current_time() + WRITE_TIMEOUT
                    await send(last_chunk())
            self._answering = None
            if writing.cancelled_caught:
                if self._interrupted and chunked:
                    await self._farewell(reply)
                return False  # the client stopped reading, or the server is stopping
        finally:
            with trio.CancelScope(shield=True) as closing:
                closing.deadline = trio.current_time() + _ACLOSE_LIMIT
                await reply.chunks.aclose()
        return keep and chunked

    async def _farewell(self, reply: StreamReply) -> None:
        """End an interrupted stream the way its protocol says a failure ends it (the chunks'
        `farewell()`), then the chunked body itself. Chunks without one are left cut short,
        unterminated, so the client cannot take the stream for whole."""
        farewell = getattr(reply.chunks, "farewell", None)
        if farewell is None:
            return  # no way to say it in the stream's own terms: cut, unterminated
        data = farewell()
        with trio.move_on_after(_ACLOSE_LIMIT):
            await self.stream.send_all((chunk(data) if data else b"") + last_chunk())

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
            if self._feed(data) is not None:
                self.eof = True  # what follows cannot be served: answer this one, then close
                return
            if self.parse.ready:
                return  # a pipelined request is in hand: read no further until it is served

    async def _take_over(self, request: Request) -> bool:
        try:
            reply = await self.handler(request)
        except Exception:
            logger.exception("unhandled error serving {} {}", request.method, request.path)
            reply = _internal_error()
        if isinstance(reply, TakeOver):
            try:
                await reply.serve(ReplayStream(request, self.leftover, self.stream), self.closing)
            except* (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
        elif isinstance(reply, StreamReply):
            await self._write_stream(request, reply, False)
        else:
            await self._write(request, reply, False)
        return False


WRITE_TIMEOUT = 60.0  # a client that takes longer to accept one write is taken to be gone
_ACLOSE_LIMIT = 1.0  # closing a stream's producer (upstream socket, key) never takes longer
_INTERNAL = (
    b'{"error":{"message":"internal gateway error","type":"server_error",'
    b'"param":null,"code":"internal_error"}}'
)


def _shutting_down() -> Reply:
    error = NoCandidate("the gateway is shutting down: retry the request", code="shutting_down")
    return Reply(error.status, {"content-type": "application/json"}, error.body())


def _internal_error() -> Reply:
    return Reply(500, {"content-type": "application/json"}, _INTERNAL)
