"""The dashboard: one static page at `/dashboard` and its live feed at `/dashboard/live`.

The page holds no data, so it is served without a key. The feed is a WebSocket, and a browser
cannot set headers on one, so the client key comes as the first message,
`{"type": "auth", "key": "..."}`, compared in constant time against every client key (any key
will do on an open gateway). A wrong key, a message that is not an auth message, or none within
`auth_timeout` closes the socket with code 4401. Once in, the client is sent
`{"type": "stats", "data": snapshot()}` at once and then every `interval` seconds, where
`snapshot()` returns what `GET /stats` serves (docs/stats.md). The feed never reads anything
after the auth message: what else the client sends is drained and ignored.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

import trio
from loguru import logger
from trio_websocket import ConnectionClosed, WebSocketConnection, wrap_server_stream

from edge.auth import matching_key
from edge.wire import Reply, Request, StreamReply, TakeOver
from protocols import jsoncodec
from protocols.errors import MethodNotAllowed

Snapshot = Callable[[], dict[str, Any]]
Route = Callable[[Request], Awaitable[Reply | StreamReply | TakeOver]]

PAGE_PATH = "/dashboard"
LIVE_PATH = "/dashboard/live"
AUTH_FAILED = 4401  # in the 4000-4999 range applications own; 401 for the HTTP status it means
SNAPSHOT_FAILED = 1011  # the standard "internal error" close code
GOING_AWAY = 1001  # the standard close code for a server that is stopping
_MAX_MESSAGE = 16 * 1024  # the only message that matters is the small auth message
_CLOSE_LIMIT = 2.0  # a client that does not answer our close frame is not waited for longer

# The page runs nothing but its own inline script and talks to nothing but its own socket.
_PAGE_HEADERS = {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-cache",
    "content-security-policy": (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
}


def page() -> bytes:
    """The dashboard page, as shipped in the package."""
    return resources.files("edge").joinpath("static", "dashboard.html").read_bytes()


def dashboard_routes(
    snapshot: Snapshot,
    client_keys: tuple[bytes, ...],
    interval: float = 1.0,
    auth_timeout: float = 5.0,
) -> dict[str, dict[str, Route]]:
    """The two routes by path and method, for the edge's route table. Neither needs the
    `Authorization` header: the page holds no data and the feed authenticates in-band."""
    body = page()

    async def serve_page(request: Request) -> Reply:
        return Reply(200, _PAGE_HEADERS, body)

    async def live(request: Request) -> TakeOver:
        if not request.upgrade:
            raise MethodNotAllowed("GET /dashboard/live is a WebSocket: upgrade to it")
        return TakeOver(
            lambda stream, closing: serve_live(
                stream, snapshot, client_keys, interval, auth_timeout, closing
            )
        )

    return {PAGE_PATH: {"GET": serve_page}, LIVE_PATH: {"GET": live}}


async def serve_live(
    stream: trio.abc.Stream,
    snapshot: Snapshot,
    client_keys: tuple[bytes, ...],
    interval: float,
    auth_timeout: float,
    closing: trio.Event | None = None,
) -> None:
    """Run one dashboard socket until the client leaves (or fails to authenticate), or the
    gateway stops (`closing`: the socket is closed with 1001, going away)."""
    async with trio.open_nursery() as nursery:
        handshake = await wrap_server_stream(nursery, stream, max_message_size=_MAX_MESSAGE)
        socket = await handshake.accept()
        if closing is not None:
            nursery.start_soon(_close_on, closing, socket, nursery.cancel_scope)
        try:
            refusal = await _authenticate(socket, client_keys, auth_timeout)
            if refusal is not None:
                await _close(socket, AUTH_FAILED, refusal)
                return
            nursery.start_soon(_drain, socket)
            await _push(socket, snapshot, interval)
        except ConnectionClosed:
            pass
        finally:
            nursery.cancel_scope.cancel()


async def _authenticate(
    socket: WebSocketConnection, client_keys: tuple[bytes, ...], auth_timeout: float
) -> str | None:
    """None once the client has shown a valid key, else the reason to give it."""
    with trio.move_on_after(auth_timeout):
        message = await socket.get_message()
        return None if _key_matches(_auth_key(message), client_keys) else "unauthorized: wrong key"
    return f"unauthorized: no auth message within {auth_timeout:g} s"


def _auth_key(message: str | bytes) -> bytes | None:
    try:
        payload = jsoncodec.loads(message)
    except ValueError:
        return None
    if not isinstance(payload, dict) or payload.get("type") != "auth":
        return None
    key = payload.get("key")
    return key.strip().encode() if isinstance(key, str) else None


def _key_matches(presented: bytes | None, client_keys: tuple[bytes, ...]) -> bool:
    """Like edge.auth.check_client: every key is compared, so the time says nothing of which
    one matched; with no client keys configured the gateway is open and any key will do."""
    if not client_keys:
        return True
    return bool(presented) and matching_key(presented, client_keys) > 0


async def _push(socket: WebSocketConnection, snapshot: Snapshot, interval: float) -> None:
    while True:
        try:
            data = snapshot()
        except Exception:
            logger.exception("the dashboard's snapshot failed")
            await _close(socket, SNAPSHOT_FAILED, "the gateway could not take a snapshot")
            return
        await socket.send_message(jsoncodec.dumps({"type": "stats", "data": data}).decode())
        await trio.sleep(interval)


async def _close_on(
    closing: trio.Event, socket: WebSocketConnection, scope: trio.CancelScope
) -> None:
    await closing.wait()
    await _close(socket, GOING_AWAY, "the gateway is stopping")
    scope.cancel()


async def _close(socket: WebSocketConnection, code: int, reason: str) -> None:
    with trio.move_on_after(_CLOSE_LIMIT):  # cancelled, trio-websocket still closes the stream
        await socket.aclose(code, reason)


async def _drain(socket: WebSocketConnection) -> None:
    """Read and drop whatever the client sends, so pings and the close handshake keep flowing."""
    try:
        while True:
            await socket.get_message()
    except ConnectionClosed:
        pass
