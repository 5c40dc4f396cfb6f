"""The two ends of an HTTP/1.1 message that the client builds or reads: the request head it
writes and the response header map it hands out.

A request goes out as one bytes object, head and body together, so it costs one `send_all`:

    POST /v1/chat/completions HTTP/1.1\r\n
    host: api.example.com\r\n            (the client's, unless the caller gave its own)
    content-length: 42\r\n               (always for POST, PUT and PATCH, even when 0)
    accept-encoding: identity\r\n        (unless the caller gave its own)
    <the caller's headers, in order>\r\n
    \r\n
    <body>

Header names and values are trusted: they come from configuration and the gateway itself, not
from a client of the gateway, so they are not checked for CR or LF here.

`Headers` is the read-only, case-insensitive view of a response's header section: names are
lowercased, values decoded as latin-1 (never fails), repeated fields joined with ", ".
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TypeVar, overload

__all__ = ["Headers", "encode_request"]

_T = TypeVar("_T")

_ACCEPT_IDENTITY = b"accept-encoding: identity\r\n"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# Framing is the client's job: a caller's own value would contradict the body it sends.
_FRAMING = frozenset({b"content-length", b"transfer-encoding"})


def encode_request(
    method: str,
    target: bytes,
    host_line: bytes,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
) -> bytes:
    """The request as it goes on the wire. `host_line` is `b"host: <host>\\r\\n"`."""
    parts = [
        method.encode("ascii"),
        b" ",
        target,
        b" HTTP/1.1\r\n",
        host_line,
        b"content-length: %d\r\n" % len(body) if body or method in _BODY_METHODS else b"",
        _ACCEPT_IDENTITY,
    ]
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"accept-encoding":
            parts[6] = b""
        elif lowered == b"host":
            parts[4] = b""
        elif lowered in _FRAMING:
            raise ValueError(f"the client sets {lowered.decode('latin-1')} itself")
        parts += (name, b": ", value, b"\r\n")
    parts += (b"\r\n", body)
    return b"".join(parts)


class Headers(Mapping[str, str]):
    """A response's headers: lowercased names, latin-1 values, repeats joined with ", "."""

    __slots__ = ("_fields",)

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        fields: dict[str, str] = {}
        for name, value in raw:
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            previous = fields.get(key)
            fields[key] = text if previous is None else f"{previous}, {text}"
        self._fields = fields

    def __getitem__(self, name: str) -> str:
        return self._fields[name.lower()]

    @overload
    def get(self, name: str, /) -> str | None: ...
    @overload
    def get(self, name: str, /, default: str | _T) -> str | _T: ...
    def get(self, name: str, /, default: object = None) -> object:
        return self._fields.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._fields

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        return f"Headers({self._fields!r})"
