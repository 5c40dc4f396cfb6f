"""What a route knows of the request it serves: `Incoming`, read once from Quart's request.

Headers become a plain dict of lower-case names (repeats joined by ", "), the body is read
whole through Quart (which enforces `server.max_body_bytes` with a 413 and its body timeout),
and the request id is the one `edge.request_ids` gave the request. `client` is the id of the
client key (`client#1`) once `edge.auth` has checked it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl

from quart import Request, Websocket

from edge.request_ids import scope_request_id


class Incoming:
    __slots__ = (
        "_args",
        "body",
        "client",
        "headers",
        "method",
        "path",
        "query",
        "request_id",
        "target",
    )

    def __init__(
        self,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        request_id: str,
        client: str | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.request_id = request_id
        self.client = client
        self.target = f"{path}?{query}" if query else path  # the path and query as sent
        self._args: dict[str, str] | None = None

    @classmethod
    async def read(cls, request: Request | Websocket, client: str | None = None) -> Incoming:
        """The request Quart is serving, its body read whole (none for a WebSocket)."""
        scope = request.scope
        body = b""
        if isinstance(request, Request):
            data = await request.get_data(as_text=False)
            body = data if isinstance(data, bytes) else data.encode()
        return cls(
            str(scope.get("method", "GET")),
            scope["path"],
            scope["query_string"].decode("latin-1"),
            header_dict(scope["headers"]),
            body,
            scope_request_id(scope),
            client,
        )

    @property
    def args(self) -> Mapping[str, str]:
        """The query string's parameters (the first value of a repeated one)."""
        if self._args is None:
            args: dict[str, str] = {}
            for name, value in parse_qsl(self.query, keep_blank_values=True):
                args.setdefault(name, value)
            self._args = args
        return self._args

    def __repr__(self) -> str:  # never the headers or body: they carry keys and prompts
        return f"Incoming({self.method} {self.path} {self.request_id})"


def header_dict(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in raw:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        old = headers.get(key)
        headers[key] = text if old is None else f"{old}, {text}"
    return headers
