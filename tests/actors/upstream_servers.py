"""Fake upstreams that speak real HTTP for the transport tests: a Hypercorn app (HTTP/1.1 and
HTTP/2, over TLS from a throwaway trustme CA) that records the HTTP version of each request,
and a forward proxy that records what it relays (absolute-form requests and CONNECT tunnels).
Both bind 127.0.0.1:0."""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs
import trio
import trustme
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

from tests.actors.provider_rig import COMPLETION

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@attrs.define
class RecordingApp:
    """An ASGI app answering every POST with a chat completion; `seen` holds (HTTP version,
    path, authorization header) per request."""

    seen: list[tuple[str, str, str | None]] = attrs.Factory(list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        while (await receive()).get("more_body"):
            pass
        headers = dict(scope["headers"])
        auth = headers.get(b"authorization")
        self.seen.append((scope["http_version"], scope["path"], auth and auth.decode()))
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": COMPLETION})


async def serve_app(nursery: trio.Nursery, app: RecordingApp, ca: trustme.CA, folder: Path) -> str:
    """Serve `app` over TLS (ALPN h2 and http/1.1) with a certificate for 127.0.0.1; its URL."""
    cert = ca.issue_cert("127.0.0.1")
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    config = HypercornConfig()
    config.bind = ["127.0.0.1:0"]
    config.certfile, config.keyfile = str(certfile), str(keyfile)
    config.accesslog = config.errorlog = None
    binds = await nursery.start(serve, app, config)
    return binds[0].replace("http://", "https://")


def ca_file(ca: trustme.CA, folder: Path) -> str:
    path = folder / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@attrs.define
class ForwardProxy:
    """An HTTP forward proxy: absolute-form requests are relayed one per upstream connection,
    CONNECT opens a tunnel. `heads` holds the head of every request it was sent."""

    port: int = 0
    heads: list[bytes] = attrs.Factory(list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, nursery: trio.Nursery) -> ForwardProxy:
        listeners = await nursery.start(trio.serve_tcp, self._serve, 0)
        self.port = listeners[0].socket.getsockname()[1]
        return self

    async def _serve(self, client: trio.SocketStream) -> None:
        buffer = bytearray()
        try:
            while True:
                head = await _read_head(client, buffer)
                if head is None:
                    return
                self.heads.append(head)
                method, target, _ = head.split(b" ", 2)
                if method == b"CONNECT":
                    host, _, port = target.decode().rpartition(":")
                    upstream = await trio.open_tcp_stream(host, int(port))
                    await client.send_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    await _tunnel(client, upstream, bytes(buffer))
                    return
                await self._relay(client, head, buffer)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    async def _relay(self, client: trio.SocketStream, head: bytes, buffer: bytearray) -> None:
        """One absolute-form request, sent on as origin-form; the reply relayed until the
        upstream closes (the request asks it to)."""
        request_line, *fields = head.split(b"\r\n")
        method, target, version = request_line.split(b" ")
        authority, _, path = target.removeprefix(b"http://").partition(b"/")
        length = 0
        kept = []
        for field in fields:
            name, _, value = field.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
            if name.strip().lower() not in (b"connection", b"proxy-authorization"):
                kept.append(field)
        while len(buffer) < length:
            buffer += await client.receive_some(65536)
        body, buffer[:] = bytes(buffer[:length]), buffer[length:]
        host, _, port = authority.decode().rpartition(":")
        upstream = await trio.open_tcp_stream(host, int(port))
        async with upstream:
            lines = [b" ".join((method, b"/" + path, version)), *kept, b"connection: close"]
            await upstream.send_all(b"\r\n".join(lines) + b"\r\n\r\n" + body)
            while data := await upstream.receive_some(65536):
                await client.send_all(data)


async def _read_head(stream: trio.SocketStream, buffer: bytearray) -> bytes | None:
    while b"\r\n\r\n" not in buffer:
        data = await stream.receive_some(65536)
        if not data:
            return None
        buffer += data
    end = buffer.index(b"\r\n\r\n")
    head = bytes(buffer[:end])
    del buffer[: end + 4]
    return head


async def _tunnel(client: trio.SocketStream, upstream: trio.SocketStream, early: bytes) -> None:
    async def pipe(source: trio.SocketStream, sink: trio.SocketStream) -> None:
        try:
            while data := await source.receive_some(65536):
                await sink.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            nursery.cancel_scope.cancel()

    async with upstream, trio.open_nursery() as nursery:
        if early:
            await upstream.send_all(early)
        nursery.start_soon(pipe, client, upstream)
        nursery.start_soon(pipe, upstream, client)
