"""A keep-alive HTTP/1.1 client for one origin, on trio, parsing with httptools.

It exists because httpx costs about 2 ms of CPU per proxied request under load (httpcore's pool
and h11's pure-Python parser); this client does the same job in a few tens of microseconds. It
does only what an upstream call of the gateway needs:

- one origin (`http` or `https`, host, port), given as a base URL whose path prefixes every
  request path (`http://h/v1` + `chat/completions` -> `/v1/chat/completions`);
- a request is written with one `send_all` and returns once the response head is in; the body
  is read from the `Response`;
- no limit on connections in use; idle ones wait in a LIFO stack of at most `max_idle`, the most
  recent on top. One older than `keepalive_expiry` is closed, not reused, and so is one whose
  socket is readable while idle (the server closed it or sent bytes nobody asked for).
- no retries: once a request may have reached the server, sending it again (a POST, twice) is
  the caller's decision;
- no read timeouts: the caller puts trio cancel scopes around `request()` and each body read.
  A cancelled connection is closed, never pooled. Only connecting has a timeout of its own,
  covering the TCP connect and the TLS handshake.

The hot path takes no lock, spawns no task and touches no channel: the pool is a deque that
only this trio thread uses, and trio runs one task at a time.
"""

from __future__ import annotations

import functools
import ssl
from collections import deque
from types import TracebackType
from urllib.parse import urlsplit

import certifi
import trio

from actors.http_client.connection import Connection
from actors.http_client.errors import ConnectError, ConnectTimeout
from actors.http_client.message import encode_request
from actors.http_client.response import Response

__all__ = ["HttpClient"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """certifi's CA bundle, HTTP/1.1 offered by ALPN; built once, shared by every client."""
    context = ssl.create_default_context(cafile=certifi.where())
    context.set_alpn_protocols(["http/1.1"])
    return context


def _ascii_host(authority: str) -> bytes:
    try:
        return authority.encode("ascii")
    except UnicodeEncodeError:
        return authority.encode("idna")


class HttpClient:
    """Requests to one origin over pooled keep-alive connections."""

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout: float,
        keepalive_expiry: float = 4.0,
        max_idle: int = 256,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        url = urlsplit(base_url)
        if url.scheme not in _DEFAULT_PORTS or not url.hostname:
            raise ValueError(f"not an http or https URL with a host: {base_url!r}")
        self._host = url.hostname
        self._port = url.port or _DEFAULT_PORTS[url.scheme]
        authority = f"[{self._host}]" if ":" in self._host else self._host
        if url.port is not None and url.port != _DEFAULT_PORTS[url.scheme]:
            authority = f"{authority}:{url.port}"
        self._origin = f"{url.scheme}://{authority}"
        self._host_line = b"host: %s\r\n" % _ascii_host(authority)
        self._prefix = url.path.rstrip("/").encode("ascii") + b"/"
        self._tls = url.scheme == "https"
        self._ssl_context = (ssl_context or default_ssl_context()) if self._tls else None
        self._connect_timeout = connect_timeout
        self._keepalive_expiry = keepalive_expiry
        self._max_idle = max_idle
        self._idle: deque[Connection] = deque()
        self._closed = False

    def __repr__(self) -> str:
        return f"<HttpClient {self._origin} idle={len(self._idle)}>"

    @property
    def idle_connections(self) -> int:
        """How many connections wait in the pool (some may since have expired)."""
        return len(self._idle)

    async def request(
        self, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes = b""
    ) -> Response:
        """Send a request; return once the response head is in. The caller closes the response."""
        if self._closed:
            raise RuntimeError("the HTTP client is closed")
        target = self._prefix + path.lstrip("/").encode("ascii")
        data = encode_request(method, target, self._host_line, headers, body)
        connection = self._checkout()
        if connection is None:
            connection = await self._connect()
        await connection.send(data)
        await connection.receive_head(head_only=method == "HEAD")
        return Response(self, connection)

    async def aclose(self) -> None:
        """Close the idle connections; connections in use close when their response does."""
        self._closed = True
        while self._idle:
            self._idle.pop().close()

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- the pool ----------------------------------------------------------------------------

    def _checkout(self) -> Connection | None:
        idle = self._idle
        if not idle:
            return None
        oldest_usable = trio.current_time() - self._keepalive_expiry
        while idle:
            connection = idle.pop()
            if connection.idle_since < oldest_usable:
                connection.close()  # every connection below it is older still
                while idle:
                    idle.pop().close()
                return None
            if connection.socket.is_readable():
                connection.close()  # closed by the server, or junk: either way, unusable
                continue
            return connection
        return None

    def _release(self, connection: Connection) -> None:
        """Take back a connection whose response is over: pool it if it can serve another."""
        if self._closed or not connection.reusable or self._max_idle <= 0:
            connection.close()
            return
        now = trio.current_time()
        connection.idle_since = now
        idle = self._idle
        oldest_usable = now - self._keepalive_expiry
        while idle and (len(idle) >= self._max_idle or idle[0].idle_since < oldest_usable):
            idle.popleft().close()
        idle.append(connection)

    async def _connect(self) -> Connection:
        with trio.move_on_after(self._connect_timeout):
            return await self._open()
        raise ConnectTimeout(f"connecting to {self._origin} took over {self._connect_timeout:g}s")

    async def _open(self) -> Connection:
        try:
            tcp = await trio.open_tcp_stream(self._host, self._port)
        except OSError as exc:
            raise ConnectError(f"could not connect to {self._origin}: {exc}") from exc
        if self._ssl_context is None:
            return Connection(tcp, tcp.socket)
        tls = trio.SSLStream(
            tcp, self._ssl_context, server_hostname=self._host, https_compatible=True
        )
        try:
            await tls.do_handshake()
        except (trio.BrokenResourceError, ssl.SSLError, OSError) as exc:
            tcp.socket.close()
            reason = exc.__cause__ or exc
            raise ConnectError(f"TLS handshake with {self._origin} failed: {reason}") from exc
        except BaseException:
            tcp.socket.close()
            raise
        return Connection(tls, tcp.socket)
