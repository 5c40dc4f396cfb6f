"""Requests framed two ways are refused before the app sees them (`refuse`, called by the
ASGI layer of `edge.request_ids`, so that the check costs no layer of its own).

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

HTTP/2 has no such ambiguity: h2 refuses `Transfer-Encoding` itself, so the check never
matches there. The check is one pass over the header names, which h11 and h2 give in lower
case.
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
    """Both framing headers (h11 and h2 give names in lower case)."""
    length = encoding = False
    for name, _ in headers:
        if name == _LENGTH:
            length = True
        elif name == _ENCODING:
            encoding = True
    return length and encoding


async def refuse(receive: Any, send: Any) -> None:
    """Answer a request framed both ways: read its body (briefly), then a 400, then close."""
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
