"""A fast fake OpenAI-compatible upstream for load tests.

One process, one event loop, a hand-rolled HTTP/1.1 server on `asyncio.Protocol` (uvloop when
installed), so that serving a request costs a few tens of microseconds next to the gateway under
test. It listens on one port per *listener*; a listener either serves (status 200) or fails every
request with a fixed status (429 or 500), which is how the failover scenario is built: the first
candidate points at a failing listener, the second at a serving one.

What a request gets is decided by its model name, so that every gateway (which forwards the model
name untouched) can drive it: `bench-model` takes the defaults given on the command line;
`bench-c50-d20-l5` streams 50 chunks 20 ms apart after 5 ms of added latency. The first chunk
(carrying the role and the first token) goes out with the response headers, chunk i at
`t0 + i * d`, and the last chunk is followed at once by `data: [DONE]`. `-f2` sends the first
two chunks at once (an idle stream that a gateway holding one chunk back still starts).

`GET /_stats` returns the counters of every listener as JSON; the runner reads it to count how
often a gateway hit the failing candidate.

    python -m benchmarks.upstream --listen ok:200 --listen r429:429 --listen r429z:429:0
    -> {"pid": 123, "ports": {"ok": 40001, "r429": 40002, "r429z": 40003}}   (one line)

Every process bounds its own lifetime (`--max-seconds`) so a crashed runner leaves nothing behind.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import sys
from collections import Counter

import attrs

_PART = re.compile(r"^([cdlf])(\d+)$")
_KEYS = {"c": "chunks", "d": "delay_ms", "l": "latency_ms", "f": "burst"}
_REASONS = {200: "OK", 404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error"}


@attrs.frozen
class Behaviour:
    chunks: int = 50
    delay_ms: int = 20
    latency_ms: int = 0
    burst: int = 1  # chunks sent at once at the start; the rest `delay_ms` apart

    def for_model(self, model: str) -> Behaviour:
        """`bench-c50-d20-l5-f2` overrides chunks, delay, latency and burst; others are ignored."""
        values = {}
        for part in model.rsplit("/", 1)[-1].split("-"):
            match = _PART.match(part)
            if match:
                values[_KEYS[match[1]]] = int(match[2])
        return attrs.evolve(self, **values) if values else self


@attrs.define
class Listener:
    name: str
    status: int
    retry_after: str | None
    requests: int = 0
    streams_started: int = 0
    streams_completed: int = 0
    streams_aborted: int = 0
    open_connections: int = 0
    max_open_connections: int = 0

    def stats(self) -> dict[str, int | str]:
        out = {k: v for k, v in attrs.asdict(self).items() if k != "retry_after"}
        out["streams_active"] = self.streams_started - self.streams_completed - self.streams_aborted
        return out


def _head(status: int, headers: list[tuple[str, str]], close: bool) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}"]
    lines += [f"{name}: {value}" for name, value in headers]
    if close:
        lines.append("connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _json_response(status: int, payload: bytes, close: bool, extra=()) -> bytes:
    headers = [("content-type", "application/json"), ("content-length", str(len(payload)))]
    return _head(status, [*headers, *extra], close) + payload


def _chunk(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)


class Replies:
    """Pre-encoded bodies, cached per model name: the hot path only concatenates bytes."""

    def __init__(self) -> None:
        self._completion: dict[str, bytes] = {}
        self._chunks: dict[str, tuple[bytes, bytes, bytes]] = {}

    def completion(self, model: str) -> bytes:
        body = self._completion.get(model)
        if body is None:
            body = json.dumps(
                {
                    "id": "chatcmpl-bench",
                    "object": "chat.completion",
                    "created": 1700000000,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {
                                "role": "assistant",
                                "content": "Hello from the bench upstream.",
                            },
                        }
                    ],
                    "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
                },
                separators=(",", ":"),
            ).encode()
            self._completion[model] = body
        return body

    def chunks(self, model: str) -> tuple[bytes, bytes, bytes]:
        """(first, middle, last+[DONE]) SSE events, already framed as HTTP chunks."""
        cached = self._chunks.get(model)
        if cached is None:

            def event(delta: dict, finish: str | None, **more) -> bytes:
                data = {
                    "id": "chatcmpl-bench",
                    "object": "chat.completion.chunk",
                    "created": 1700000000,
                    "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                    **more,
                }
                return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"

            usage = {"prompt_tokens": 12, "completion_tokens": 50, "total_tokens": 62}
            cached = (
                _chunk(event({"role": "assistant", "content": "tokq "}, None)),
                _chunk(event({"content": "tokq "}, None)),
                _chunk(event({}, "stop", usage=usage) + b"data: [DONE]\n\n") + b"0\r\n\r\n",
            )
            self._chunks[model] = cached
        return cached


class Server:
    """Shared state of every listener in this process."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.replies = Replies()
        self.listeners: dict[str, Listener] = {}
        self.active_by_model: Counter[str] = Counter()  # streams being sent, per model name

    def stats_body(self) -> bytes:
        stats: dict = {n: lst.stats() for n, lst in self.listeners.items()}
        stats["active_by_model"] = {m: n for m, n in self.active_by_model.items() if n}
        return json.dumps(stats).encode()


class Connection(asyncio.Protocol):
    def __init__(self, server: Server, listener: Listener) -> None:
        self.server = server
        self.listener = listener
        self.loop = asyncio.get_running_loop()
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.busy = False  # a response is still being written; later requests wait (pipelining)
        self.timer: asyncio.TimerHandle | None = None
        self.streaming: str | None = None  # model of the stream being sent
        self.close_after = False

    def connection_made(self, transport) -> None:
        self.transport = transport
        lst = self.listener
        lst.open_connections += 1
        lst.max_open_connections = max(lst.max_open_connections, lst.open_connections)

    def connection_lost(self, exc) -> None:
        self.listener.open_connections -= 1
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.streaming is not None:
            self.listener.streams_aborted += 1
            self.server.active_by_model[self.streaming] -= 1
            self.streaming = None
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.busy:
            self._next_request()

    def _next_request(self) -> None:
        while self.transport is not None and not self.busy:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
            method, path, version = [*head[0].split(" "), "", ""][:3]
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            start = end + 4
            if "chunked" in headers.get("transfer-encoding", "").lower():
                body, consumed = _dechunk(self.buf, start)
                if body is None:
                    return
            else:
                length = int(headers.get("content-length") or 0)
                if len(self.buf) < start + length:
                    return
                body, consumed = bytes(self.buf[start : start + length]), start + length
            del self.buf[:consumed]
            conn = headers.get("connection", "").lower()
            self.close_after = conn == "close" or (version == "HTTP/1.0" and conn != "keep-alive")
            self._handle(method, path, body)

    def _send(self, data: bytes, done: bool = True) -> None:
        if self.transport is None:
            return
        self.transport.write(data)
        if done and self.close_after:
            self.transport.close()

    def _handle(self, method: str, path: str, body: bytes) -> None:
        path = path.split("?", 1)[0]
        if method == "GET":
            if path.endswith("/_stats"):
                return self._send(_json_response(200, self.server.stats_body(), self.close_after))
            if path.endswith("/models"):
                payload = b'{"object":"list","data":[{"id":"bench-model","object":"model"}]}'
                return self._send(_json_response(200, payload, self.close_after))
            return self._send(_json_response(200, b'{"status":"ok"}', self.close_after))
        if method != "POST" or not path.endswith("/completions"):
            return self._send(_json_response(404, b'{"error":{"message":"not found"}}', True))
        lst = self.listener
        lst.requests += 1
        if lst.status != 200:
            return self._fail(lst)
        try:
            request = json.loads(body)
            model = str(request.get("model", "bench-model"))
        except (ValueError, AttributeError):
            payload = b'{"error":{"message":"bad json","type":"invalid_request_error"}}'
            return self._send(_json_response(400, payload, self.close_after))
        behaviour = self.server.behaviour.for_model(model)
        if request.get("stream"):
            return self._start_stream(model, behaviour)
        reply = _json_response(200, self.server.replies.completion(model), self.close_after)
        if behaviour.latency_ms:
            self.busy = True
            self.timer = self.loop.call_later(behaviour.latency_ms / 1000, self._delayed, reply)
        else:
            self._send(reply)

    def _fail(self, lst: Listener) -> None:
        if lst.status == 429:
            payload = (
                b'{"error":{"message":"Rate limit reached (bench upstream)",'
                b'"type":"requests","param":null,"code":"rate_limit_exceeded"}}'
            )
        else:
            payload = (
                b'{"error":{"message":"bench upstream failure","type":"server_error",'
                b'"param":null,"code":null}}'
            )
        extra = [("retry-after", lst.retry_after)] if lst.retry_after else []
        self._send(_json_response(lst.status, payload, self.close_after, extra))

    def _delayed(self, reply: bytes) -> None:
        self.timer = None
        self.busy = False
        self._send(reply)
        self._next_request()

    def _start_stream(self, model: str, behaviour: Behaviour) -> None:
        self.busy = True
        self.listener.streams_started += 1
        self.streaming = model
        self.server.active_by_model[model] += 1
        first, middle, last = self.server.replies.chunks(model)
        head = _head(
            200,
            [
                ("content-type", "text/event-stream"),
                ("cache-control", "no-cache"),
                ("transfer-encoding", "chunked"),
            ],
            self.close_after,
        )
        t0 = self.loop.time() + behaviour.latency_ms / 1000
        chunks = max(behaviour.chunks, 1)
        delay = behaviour.delay_ms / 1000
        burst = max(1, behaviour.burst)

        def send(i: int) -> None:
            self.timer = None
            if self.transport is None:
                return
            if i == chunks - 1:
                payload = (head + first if i == 0 else middle) + last
                self.listener.streams_completed += 1
                self.server.active_by_model[model] -= 1
                self.streaming = None
                self.busy = False
                self._send(payload)
                self._next_request()
                return
            self._send(head + first if i == 0 else middle, done=False)
            if i + 1 < burst:
                return send(i + 1)
            self.timer = self.loop.call_at(t0 + (i + 2 - burst) * delay, send, i + 1)

        if behaviour.latency_ms:
            self.timer = self.loop.call_at(t0, send, 0)
        else:
            send(0)


def _dechunk(buf: bytearray, pos: int) -> tuple[bytes | None, int]:
    """Decode a chunked request body starting at `pos`; (None, 0) while it is incomplete."""
    out = bytearray()
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None, 0
        size = int(bytes(buf[pos:eol]).split(b";")[0] or b"0", 16)
        pos = eol + 2
        if size == 0:
            end = buf.find(b"\r\n", pos)  # no trailers expected: the empty line ends it
            return (bytes(out), end + 2) if end >= 0 else (None, 0)
        if len(buf) < pos + size + 2:
            return None, 0
        out += buf[pos : pos + size]
        pos += size + 2


async def serve(
    specs: list[tuple[str, int, str | None]], behaviour: Behaviour, max_seconds: float
) -> None:
    loop = asyncio.get_running_loop()
    server = Server(behaviour)
    ports = {}
    for name, status, retry_after in specs:
        listener = Listener(name=name, status=status, retry_after=retry_after)
        server.listeners[name] = listener
        srv = await loop.create_server(
            lambda lst=listener: Connection(server, lst),
            "127.0.0.1",
            0,
            backlog=4096,
            reuse_address=True,
        )
        ports[name] = srv.sockets[0].getsockname()[1]
    print(json.dumps({"pid": os.getpid(), "ports": ports}), flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), max_seconds)
    except TimeoutError:
        print("upstream: --max-seconds reached, exiting", file=sys.stderr)


def _listener_spec(text: str) -> tuple[str, int, str | None]:
    """`ok:200`, `r429:429`, or `r429z:429:0` (failing with `Retry-After: 0`)."""
    name, status, *retry_after = text.split(":")
    return name, int(status or 200), (retry_after[0] if retry_after else None)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--listen",
        action="append",
        type=_listener_spec,
        default=[],
        metavar="NAME:STATUS[:RETRY_AFTER]",
        help="one port per listener (default ok:200)",
    )
    parser.add_argument("--chunks", type=int, default=50)
    parser.add_argument("--chunk-delay-ms", type=int, default=20)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=3600.0)
    parser.add_argument("--no-uvloop", action="store_true")
    args = parser.parse_args(argv)
    behaviour = Behaviour(args.chunks, args.chunk_delay_ms, args.latency_ms)
    specs = args.listen or [("ok", 200, None)]
    coro = serve(specs, behaviour, args.max_seconds)
    try:
        if args.no_uvloop:
            raise ImportError
        import uvloop
    except ImportError:
        asyncio.run(coro)
    else:
        uvloop.run(coro)


if __name__ == "__main__":
    main()
