"""Requests framed two ways are refused before the app sees them (`RefuseAmbiguousFraming`).

A request carrying both `Content-Length` and `Transfer-Encoding` says two different things
about where its body ends. h11 (under Hypercorn) follows RFC 9112: `Transfer-Encoding` wins and
the length is ignored, so it reads the body as chunked and would go on to serve whatever follows
on the connection as the next request. A proxy in front of baton that reads the same bytes by
their length sees a different split: that disagreement is request smuggling. RFC 9112 §6.1 lets a
server refuse such a request and requires it to close the connection afterwards; baton does
both: a 400 in the OpenAI envelope with `Connection: close` (h11 then closes once the reply is
sent, answering nothing more), before any route runs. The body (as h11 frames it) is read and
dropped first, for at most `DRAIN_SECONDS`: answered before its end, the reply would race
Hypercorn's reading of the bytes behind it, which closes the connection mid-reply.

HTTP/2 has no such ambiguity (h2 refuses `Transfer-Encoding` itself), so only HTTP/1.x
requests are looked at.
"""

from __future__ import annotations

from typing import Any

import trio

from edge.replies import error_response
from protocols.errors import BadRequest

_LENGTH = b"content-length"
_ENCODING = b"transfer-encoding"
DRAIN_SECONDS = 1.0


def framed_both_ways(headers: Any) -> bool:
    names = {name.lower() for name, _ in headers}
    return _LENGTH in names and _ENCODING in names


class RefuseAmbiguousFraming:
    """ASGI middleware: an HTTP/1.x request with both framing headers is a 400, then closed."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if (
            scope["type"] != "http"
            or scope.get("http_version", "1.1") not in ("1.0", "1.1")
            or not framed_both_ways(scope["headers"])
        ):
            await self.app(scope, receive, send)
            return
        with trio.move_on_after(DRAIN_SECONDS):
            while (message := await receive())["type"] == "http.request":
                if not message.get("more_body", False):
                    break
        refused = BadRequest(
            "the request has both Content-Length and Transfer-Encoding; send one",
            code="ambiguous_framing",
        )
        reply = error_response(refused, {"connection": "close"})
        headers = [(name.encode(), value.encode()) for name, value in reply.headers.items()]
        headers.append((b"content-length", str(len(reply.body)).encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": reply.body, "more_body": False})
