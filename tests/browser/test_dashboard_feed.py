"""The dashboard's routes over real sockets, no browser: the page is served without a key, and
the live feed lets in only a client that shows one as its first message."""

from __future__ import annotations

import json
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx2
import pytest
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection

from edge.dashboard import AUTH_FAILED, SNAPSHOT_FAILED
from tests.browser.served import CLIENT_KEY, dashboard_server
from tests.browser.stats_doc import documented_snapshot, ticking
from tests.e2e.harness import websocket


def _live(port: int) -> AbstractAsyncContextManager[WebSocketConnection]:
    return websocket(port, "/dashboard/live")


async def _closed_with(socket: Any) -> tuple[int, str | None]:
    with pytest.raises(ConnectionClosed) as closed:
        await socket.get_message()
    return closed.value.reason.code, closed.value.reason.reason


async def test_the_page_is_served_without_a_key_and_locked_down() -> None:
    with trio.fail_after(10):
        async with dashboard_server(documented_snapshot) as served:
            async with httpx2.AsyncClient(base_url=served.url) as http:
                page = await http.get("/dashboard")
                plain = await http.get("/dashboard/live")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    assert '<canvas id="sparkline"' in page.text and "/live" in page.text
    assert "innerHTML" not in page.text and "http://" not in page.text  # nothing fetched
    assert plain.status_code == 405
    assert "upgrade" in plain.json()["error"]["message"]


async def test_a_valid_key_gets_a_snapshot_at_once_then_every_interval() -> None:
    snapshot = ticking(documented_snapshot())
    with trio.fail_after(10):
        async with dashboard_server(snapshot, interval=0.2) as served:
            async with _live(served.port) as socket:
                await socket.send_message(json.dumps({"type": "auth", "key": CLIENT_KEY}))
                with trio.fail_after(0.15):  # at once, not after the first interval
                    first = json.loads(await socket.get_message())
                started = trio.current_time()
                second = json.loads(await socket.get_message())
                waited = trio.current_time() - started
    assert first["type"] == "stats" and second["type"] == "stats"
    assert first["data"] == documented_snapshot()
    assert second["data"]["totals"]["calls"] == first["data"]["totals"]["calls"] + 3
    assert 0.15 <= waited < 1.0


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ({"type": "auth", "key": "not-the-key"}, "unauthorized: wrong key"),
        ({"type": "auth"}, "unauthorized: wrong key"),
        ({"type": "hello", "key": CLIENT_KEY}, "unauthorized: wrong key"),
        ("not json", "unauthorized: wrong key"),
    ],
)
async def test_anything_but_a_valid_auth_message_is_closed_with_4401(
    message: Any, reason: str
) -> None:
    pushed: list[int] = []

    def snapshot() -> dict[str, Any]:
        pushed.append(1)
        return documented_snapshot()

    with trio.fail_after(10):
        async with dashboard_server(snapshot) as served:
            async with _live(served.port) as socket:
                text = message if isinstance(message, str) else json.dumps(message)
                await socket.send_message(text)
                assert await _closed_with(socket) == (AUTH_FAILED, reason)
    assert pushed == []  # not one snapshot left the gateway


async def test_silence_is_closed_with_4401_after_the_auth_timeout() -> None:
    with trio.fail_after(10):
        async with dashboard_server(documented_snapshot, auth_timeout=0.3) as served:
            async with _live(served.port) as socket:
                started = trio.current_time()
                code, reason = await _closed_with(socket)
                waited = trio.current_time() - started
    assert code == AUTH_FAILED
    assert reason == "unauthorized: no auth message within 0.3 s"
    assert 0.25 <= waited < 2.0


async def test_an_open_gateway_takes_any_key() -> None:
    with trio.fail_after(10):
        async with dashboard_server(documented_snapshot, client_keys=()) as served:
            async with _live(served.port) as socket:
                await socket.send_message(json.dumps({"type": "auth", "key": ""}))
                first = json.loads(await socket.get_message())
    assert first["type"] == "stats"


async def test_a_failing_snapshot_closes_the_socket_with_1011() -> None:
    def snapshot() -> dict[str, Any]:
        raise RuntimeError("telemetry is gone")

    with trio.fail_after(10):
        async with dashboard_server(snapshot) as served:
            async with _live(served.port) as socket:
                await socket.send_message(json.dumps({"type": "auth", "key": CLIENT_KEY}))
                code, reason = await _closed_with(socket)
            await served.assert_serving()
    assert (code, reason) == (SNAPSHOT_FAILED, "the gateway could not take a snapshot")


async def test_a_client_that_leaves_ends_its_feed() -> None:
    pushes: list[float] = []

    def snapshot() -> dict[str, Any]:
        pushes.append(trio.current_time())
        return documented_snapshot()

    with trio.fail_after(10):
        async with dashboard_server(snapshot, interval=0.05) as served:
            async with _live(served.port) as socket:
                await socket.send_message(json.dumps({"type": "auth", "key": CLIENT_KEY}))
                await socket.get_message()
                await socket.send_message("chatter the feed drains and ignores")
                await socket.get_message()
            left = len(pushes)
            await trio.sleep(0.3)
            await served.assert_serving()
    assert left >= 2
    assert len(pushes) <= left + 1  # at most the one push already under way when it left
