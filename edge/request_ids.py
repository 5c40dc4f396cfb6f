"""Request ids: what names one request in every log line, request log and reply.

A client's own `x-request-id` is kept when it is a sane token (1-128 characters of
`[A-Za-z0-9._:-]`), so a client can follow its call through baton's logs; anything else
(missing, too long, spaces, slashes, control characters) gets a fresh `req_` + 24 hex digits.

`RequestIds` is the ASGI layer around the Quart app that gives every HTTP request and
WebSocket its id: it is put in the scope (`scope_request_id`), bound to every log line written
while the request is served (loguru's context, inherited by the tasks the request starts), and
sent back as the `x-request-id` header of the reply or of the WebSocket handshake. It also
logs each request and its status at DEBUG, and refuses a request framed by both Content-Length
and Transfer-Encoding before the app sees it (`edge.framing`).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from typing import Any

from loguru import logger

from edge import framing

HEADER = "x-request-id"
_HEADER = HEADER.encode()
_SCOPE_KEY = "baton.request_id"
_VALID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_ANSWERS = ("http.response.start", "websocket.accept")


def fresh_request_id() -> str:
    """`req_` and 96 random bits in hex: unique enough to name a call, not a secret."""
    return f"req_{random.getrandbits(96):024x}"


def valid_request_id(text: str) -> bool:
    return _VALID.fullmatch(text) is not None


def request_id_from(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The client's `x-request-id` when it is valid, else a fresh id."""
    for name, value in headers:
        if name.lower() == _HEADER:
            given = value.decode("latin-1")
            return given if _VALID.fullmatch(given) is not None else fresh_request_id()
    return fresh_request_id()


def scope_request_id(scope: Any) -> str:
    """The id `RequestIds` gave the request whose ASGI scope this is."""
    request_id = scope.get(_SCOPE_KEY)
    return request_id if isinstance(request_id, str) else fresh_request_id()


class RequestIds:
    """ASGI middleware: an id for each request, on its log lines and its reply."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope["headers"])
        scope[_SCOPE_KEY] = request_id
        header = (_HEADER, request_id.encode())

        query = scope.get("query_string", b"").decode("latin-1")
        target = f"{scope['path']}?{query}" if query else scope["path"]
        what = f"{scope.get('method', 'GET')} {target}"

        async def send_with_id(message: Any) -> None:
            if message["type"] in _ANSWERS:
                message["headers"] = [*message.get("headers", ()), header]
                logger.debug("{} -> {}", what, message.get("status", "accepted"))
            await send(message)

        with logger.contextualize(request_id=request_id):
            logger.debug("{}", what)
            if scope["type"] == "http" and framing.framed_both_ways(scope["headers"]):
                await framing.refuse(receive, send_with_id)
            else:
                await self.app(scope, receive, send_with_id)
