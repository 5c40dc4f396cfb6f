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

from collections.abc import Callable
from importlib import resources
from typing import Any

import trio
from loguru import logger
from quart import Blueprint, Response, websocket

from edge.auth import matching_key
from protocols import jsoncodec

Snapshot = Callable[[], dict[str, Any]]

PAGE_PATH = "/dashboard"
LIVE_PATH = "/dashboard/live"
AUTH_FAILED = 4401  # in the 4000-4999 range applications own; 401 for the HTTP status it means
SNAPSHOT_FAILED = 1011  # the standard "internal error" close code
GOING_AWAY = 1001  # the standard close code for a server that is stopping
_MAX_MESSAGE = 16 * 1024  # the only message that matters is the small auth message

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


def dashboard_blueprint(
    snapshot: Snapshot,
    client_keys: tuple[bytes, ...],
    closing: trio.Event,
    interval: float = 1.0,
    auth_timeout: float = 5.0,
) -> Blueprint:
    """The page and its feed. Neither needs the `Authorization` header: the page holds no data
    and the feed authenticates in-band. `closing` is set when the gateway stops: the feed then
    closes with 1001 (going away)."""
    body = page()
    blueprint = Blueprint("dashboard", __name__)

    @blueprint.get(PAGE_PATH)
    async def serve_page() -> Response:
        return Response(body, 200, _PAGE_HEADERS)

    @blueprint.websocket(LIVE_PATH)
    async def live() -> None:
        await serve_live(snapshot, client_keys, interval, auth_timeout, closing)

    return blueprint


async def serve_live(
    snapshot: Snapshot,
    client_keys: tuple[bytes, ...],
    interval: float,
    auth_timeout: float,
    closing: trio.Event,
) -> None:
    """Run one dashboard socket (Quart's current websocket) until the client leaves (or fails
    to authenticate), or the gateway stops."""
    await websocket.accept()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_close_on, closing, nursery.cancel_scope)
        refusal = await _authenticate(client_keys, auth_timeout)
        if refusal is not None:
            await websocket.close(AUTH_FAILED, refusal)
        else:
            nursery.start_soon(_drain)
            await _push(snapshot, interval)
        nursery.cancel_scope.cancel()


async def _authenticate(client_keys: tuple[bytes, ...], auth_timeout: float) -> str | None:
    """None once the client has shown a valid key, else the reason to give it."""
    with trio.move_on_after(auth_timeout):
        message = await websocket.receive()
        if len(message) > _MAX_MESSAGE:
            return "unauthorized: the auth message is too large"
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
    return presented is not None and presented != b"" and matching_key(presented, client_keys) > 0


async def _push(snapshot: Snapshot, interval: float) -> None:
    while True:
        try:
            data = snapshot()
        except Exception:
            logger.exception("the dashboard's snapshot failed")
            await websocket.close(SNAPSHOT_FAILED, "the gateway could not take a snapshot")
            return
        await websocket.send(jsoncodec.dumps({"type": "stats", "data": data}).decode())
        await trio.sleep(interval)


async def _close_on(closing: trio.Event, scope: trio.CancelScope) -> None:
    await closing.wait()
    await websocket.close(GOING_AWAY, "the gateway is stopping")
    scope.cancel()


async def _drain() -> None:
    """Read and drop whatever the client sends, so the close handshake keeps flowing."""
    while True:
        await websocket.receive()
