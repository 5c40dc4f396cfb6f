"""A graceful stop does not wait out its grace period for sockets that are only open: an idle
Responses WebSocket and the dashboard's feed are closed at once with 1001 (going away), while
a response still streaming on a socket gets to finish first."""

import json
from typing import Any

import trio
import yaml
from trio_websocket import ConnectionClosed, WebSocketConnection

import config as baton_config
from edge.server import serve
from edge.simulator import Complete, always
from tests.e2e.harness import CLIENT_KEY, gateway_config, start_upstreams, websocket

AUTH = [("authorization", f"Bearer {CLIENT_KEY}")]
GRACE = 8.0


async def until_closed(socket: WebSocketConnection) -> int | None:
    try:
        while True:
            await socket.get_message()
    except ConnectionClosed as closed:
        return closed.reason.code


async def start(
    nursery: trio.Nursery, upstreams: dict[str, Any], stop: trio.Event
) -> tuple[int, trio.Event]:
    document = gateway_config(
        upstreams, virtual_models={"vm": ["beta/m"]}, server={"shutdown_grace": GRACE}
    )
    loaded = baton_config.load_text(yaml.safe_dump(document), env={})
    stopped = trio.Event()

    async def run(task_status: trio.TaskStatus[list[str]]) -> None:
        await serve(loaded.config, shutdown_trigger=stop.wait, task_status=task_status)
        stopped.set()

    urls = await nursery.start(run)
    return int(urls[0].rpartition(":")[2]), stopped


async def test_idle_sockets_are_closed_going_away_at_once() -> None:
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            upstreams = await start_upstreams(nursery, beta=always(Complete("hello")))
            stop = trio.Event()
            port, stopped = await start(nursery, upstreams, stop)
            async with (
                websocket(port, "/v1/responses", extra_headers=AUTH) as responses,
                websocket(port, "/dashboard/live") as dashboard,
            ):
                await dashboard.send_message(json.dumps({"type": "auth", "key": CLIENT_KEY}))
                assert json.loads(await dashboard.get_message())["type"] == "stats"
                began = trio.current_time()
                stop.set()
                codes = [await until_closed(responses), await until_closed(dashboard)]
                await stopped.wait()
                took = trio.current_time() - began
            nursery.cancel_scope.cancel()
    assert codes == [1001, 1001]
    assert took < GRACE / 2  # not held for the grace period


async def test_a_response_streaming_at_the_stop_finishes_then_the_socket_closes() -> None:
    slow = Complete("one two three four five six", chunks=6, chunk_delay=0.2)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            upstreams = await start_upstreams(nursery, beta=always(slow))
            stop = trio.Event()
            port, stopped = await start(nursery, upstreams, stop)
            async with websocket(port, "/v1/responses", extra_headers=AUTH) as socket:
                create = {"type": "response.create", "model": "vm", "input": "x", "store": False}
                await socket.send_message(json.dumps(create))
                events = [json.loads(await socket.get_message())]
                stop.set()
                try:
                    while True:
                        events.append(json.loads(await socket.get_message()))
                except ConnectionClosed as closed:
                    code = closed.reason.code
                await stopped.wait()
            nursery.cancel_scope.cancel()
    assert events[-1]["type"] == "response.completed"
    assert (
        events[-1]["response"]["output"][0]["content"][0]["text"] == "one two three four five six"
    )
    assert code == 1001
