"""The one exception tree of the upstream HTTP client.

Every failure the client sees on the wire is raised as one of these, once, at the point it is
seen, with the trio or OS error as its `__cause__`. A message names the origin and what went
wrong, never a request header (they carry API keys) and never the request body.

    HttpClientError
    +-- ConnectError          TCP connect refused or unreachable, DNS failure, TLS handshake failure
    |   +-- ConnectTimeout    TCP connect plus TLS handshake took longer than `connect_timeout`
    +-- WriteError            the connection broke while the request was being sent
    +-- RemoteProtocolError   the server spoke malformed HTTP, sent a head over 64 KiB, switched
    |                         protocols, or closed the connection before a complete response head
    +-- ReadError             the connection broke (reset, or closed early) while a reply was read

No error is retried on another connection: once a request may have reached the server it is the
caller's decision whether to send it again.

Using a response after `aclose()` is the caller's fault, not the server's: that raises trio's
own `ClosedResourceError`.
"""

from __future__ import annotations

__all__ = [
    "ConnectError",
    "ConnectTimeout",
    "HttpClientError",
    "ReadError",
    "RemoteProtocolError",
    "WriteError",
]


class HttpClientError(Exception):
    """Base of every failure of an upstream HTTP exchange."""


class ConnectError(HttpClientError):
    """No connection: refused, unreachable, DNS failure or TLS handshake failure."""


class ConnectTimeout(ConnectError):
    """The TCP connect and TLS handshake did not finish within `connect_timeout`."""


class WriteError(HttpClientError):
    """The connection broke while the request was being sent."""


class RemoteProtocolError(HttpClientError):
    """The server did not answer in well-formed HTTP/1.1 (or closed before the head ended)."""


class ReadError(HttpClientError):
    """The connection was reset or cut while a response was being received."""
