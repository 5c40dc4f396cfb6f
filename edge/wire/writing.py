"""Reply bytes: status line and headers, chunked framing, and the connection's own refusals.

Header values come from baton itself (provenance, content types); one carrying a line break
would split the head, so it is refused here rather than written.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from email.utils import formatdate
from http import HTTPStatus

from edge.wire.request_id import fresh_request_id
from protocols.errors import BatonError

_STATUS_LINES = {
    status.value: f"HTTP/1.1 {status.value} {status.phrase}\r\n" for status in HTTPStatus
}
_date_second = 0
_date_line = ""


def _date() -> str:
    global _date_second, _date_line
    now = int(time.time())
    if now != _date_second:
        _date_second = now
        _date_line = f"date: {formatdate(now, usegmt=True)}\r\n"
    return _date_line


def head(
    status: int,
    headers: Mapping[str, str],
    length: int | None,
    keep_alive: bool,
    *,
    chunked: bool = False,
    request_id: str | None = None,
) -> bytes:
    """The status line and headers. `length` None: the body's length is not known.
    `request_id` (already validated: see `edge.wire.request_id`) goes out as `x-request-id`."""
    lines = [_STATUS_LINES.get(status) or f"HTTP/1.1 {status} Unknown\r\n", _date()]
    if request_id is not None:
        lines.append(f"x-request-id: {request_id}\r\n")
    for name, value in headers.items():
        if "\n" in value or "\r" in value:
            raise ValueError(f"header {name!r} carries a line break")
        lines.append(f"{name}: {value}\r\n")
    if length is not None:
        lines.append(f"content-length: {length}\r\n")
    elif chunked:
        lines.append("transfer-encoding: chunked\r\n")
    if not keep_alive:
        lines.append("connection: close\r\n")
    lines.append("\r\n")
    return "".join(lines).encode("latin-1", "replace")


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


def last_chunk() -> bytes:
    return b"0\r\n\r\n"


def refusal(error: BatonError) -> bytes:
    """A whole reply refusing a request the connection cannot serve, closing the connection."""
    body = error.body()
    headers = {"content-type": "application/json"}
    request_id = fresh_request_id()
    return head(error.status, headers, len(body), False, request_id=request_id) + body
