"""A minimal HTTP/1.1 client connection for load generation, on `asyncio.Protocol`.

No futures or tasks per request: a connection parses the response as bytes arrive and calls its
owner back (`on_response`, `on_close`), and the owner writes the next request from inside that
callback. That keeps the client to a few tens of microseconds per request, which matters when
client, fake upstream and gateway share two cores.

Responses may be framed by Content-Length, chunked transfer coding or connection close. Bodies are
not kept; for server-sent events the connection tracks when each event carrying a token arrived,
and whether `data: [DONE]` was seen.
"""

from __future__ import annotations

import asyncio
import time

TOKEN = b"tokq"  # the text every streamed chunk of the fake upstream carries


def build_request(
    host: str, port: int, path: str, body: bytes, headers: dict[str, str] | None = None
) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Accept: */*",
    ]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Exchange:
    """What one request/response looked like from the client's side."""

    __slots__ = (
        "_last_token",
        "_sse",
        "done",
        "events",
        "gaps",
        "on_first_token",
        "saw_done",
        "sent",
        "status",
        "tokens",
        "ttft",
    )

    def __init__(self, sent: float) -> None:
        self.sent = sent
        self.status = 0
        self.ttft: float | None = None
        self.done = 0.0
        self.tokens = 0
        self.events = 0
        self.gaps: list[tuple[float, float]] = []  # (arrival time, gap since the previous)
        self.saw_done = False
        self._last_token = 0.0
        self._sse = b""
        self.on_first_token = None  # optional callable, called once

    def feed_sse(self, data: bytes, now: float) -> None:
        buf = self._sse + data
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n")
        parts = buf.split(b"\n\n")
        self._sse = parts.pop()
        for event in parts:
            if not event.strip():
                continue
            self.events += 1
            if TOKEN in event:
                self.tokens += 1
                if self.ttft is None:
                    self.ttft = now - self.sent
                    if self.on_first_token is not None:
                        self.on_first_token()
                else:
                    self.gaps.append((now, now - self._last_token))
                self._last_token = now
            elif b"[DONE]" in event:
                self.saw_done = True


class ClientConnection(asyncio.Protocol):
    """One keep-alive connection; the owner calls `send` and gets `on_response(conn, exchange)`."""

    def __init__(self, owner, sse: bool) -> None:
        self.owner = owner
        self.sse = sse
        self.transport: asyncio.Transport | None = None
        self.exchange: Exchange | None = None
        self.closed = False
        self._buf = bytearray()
        self._head_done = False
        self._mode = ""  # "length" | "chunked" | "close"
        self._remaining = 0
        self._keep_alive = True

    # asyncio callbacks
    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        self.closed = True
        self.transport = None
        ex = self.exchange
        if ex is not None and self._head_done and self._mode == "close":
            self._finish(time.perf_counter())  # close-delimited body ends here
            ex = None
        self.exchange = None
        self.owner.on_close(self, ex)

    def send(self, request: bytes) -> Exchange:
        self.exchange = Exchange(time.perf_counter())
        self._head_done = False
        self.transport.write(request)
        return self.exchange

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        if self.exchange is None:
            return  # unsolicited bytes: ignore
        self._buf += data
        if not self._head_done and not self._parse_head():
            return
        self._parse_body(now)

    # parsing
    def _parse_head(self) -> bool:
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        lines = bytes(self._buf[:end]).split(b"\r\n")
        del self._buf[: end + 4]
        status = int(lines[0].split(b" ", 2)[1])
        if status == 100:  # 100 Continue: the real head follows
            return self._parse_head()
        self.exchange.status = status
        length, chunked, conn = None, False, b""
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                conn = value.strip().lower()
        self._keep_alive = conn != b"close" and not lines[0].startswith(b"HTTP/1.0")
        if chunked:
            self._mode = "chunked"
        elif length is not None:
            self._mode, self._remaining = "length", length
        else:
            self._mode, self._keep_alive = "close", False
        self._head_done = True
        return True

    def _parse_body(self, now: float) -> None:
        buf = self._buf
        if self._mode == "length":
            take = min(len(buf), self._remaining)
            if self.sse and take:
                self.exchange.feed_sse(bytes(buf[:take]), now)
            del buf[:take]
            self._remaining -= take
            if self._remaining == 0:
                self._finish(now)
        elif self._mode == "chunked":
            while True:
                if self._remaining > 0:  # inside a chunk (plus its CRLF)
                    take = min(len(buf), self._remaining)
                    if take == 0:
                        return
                    data_end = max(0, min(take, self._remaining - 2))
                    if self.sse and data_end:
                        self.exchange.feed_sse(bytes(buf[:data_end]), now)
                    del buf[:take]
                    self._remaining -= take
                    continue
                eol = buf.find(b"\r\n")
                if eol < 0:
                    return
                size = int(bytes(buf[:eol]).split(b";")[0], 16)
                if size == 0:  # last-chunk, then (no trailers expected) the empty line
                    if len(buf) < eol + 4:
                        return
                    del buf[: eol + 4]
                    self._finish(now)
                    return
                del buf[: eol + 2]
                self._remaining = size + 2
        else:  # close-delimited
            if self.sse and buf:
                self.exchange.feed_sse(bytes(buf), now)
            buf.clear()

    def _finish(self, now: float) -> None:
        ex = self.exchange
        self.exchange = None
        ex.done = now
        if not self._keep_alive and self.transport is not None:
            self.transport.close()
        self.owner.on_response(self, ex)
