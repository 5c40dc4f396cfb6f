"""The Responses API's WebSocket mode: `GET /v1/responses` upgraded.

The client sends `{"type": "response.create", ...the POST body fields...}` messages; each is
answered with the same events a stream would carry, one JSON text message per event. Responses
on one connection run one after another, and each can name an earlier one of the same
connection as `previous_response_id` even with `store: false` (the connection remembers its
last few, as the API does). `generate: false` (Codex's prewarm) records the input for the next
turn and answers at once, without a model call. A message that is not a valid `response.create` gets
an `error` event and the connection stays open; a closed socket cancels the call in flight,
and the upstream request with it (a watcher reads the socket while a turn runs).
"""

from __future__ import annotations

import time
from typing import Any

import trio
from loguru import logger
from trio_websocket import ConnectionClosed, WebSocketConnection, wrap_server_stream

from actors.store import StoredResponse
from actors.system import ActorSystem
from actors.telemetry.record import CANCELLED
from edge.call_log import log_failed_hops
from edge.meter import CallMeter
from edge.responses import prepare, submit
from edge.responses_stream import ResponsesStream
from edge.wire import Request
from edge.wire.request_id import fresh_request_id
from protocols import jsoncodec
from protocols.errors import BadRequest, BatonError
from protocols.responses import IdFactory, ResponseStream

_RECENT_LIMIT = 16  # responses a connection remembers for previous_response_id
_MAX_MESSAGE = 64 * 1024 * 1024
_GOING_AWAY = 1001  # the standard close code for a server that is stopping
_CLOSE_LIMIT = 2.0


async def serve(
    system: ActorSystem,
    request: Request,
    stream: trio.abc.Stream,
    closing: trio.Event | None = None,
) -> None:
    """Run one WebSocket connection (the client is already authenticated) until it closes, or
    the gateway stops (`closing`): a response in progress may finish within the grace period,
    then the socket is closed with 1001 (going away) instead of waiting for another."""
    async with trio.open_nursery() as nursery:
        handshake = await wrap_server_stream(nursery, stream, max_message_size=_MAX_MESSAGE)
        socket = await handshake.accept()
        try:
            await _converse(system, socket, request.request_id, request.client, closing)
        except ConnectionClosed:
            pass
        finally:
            nursery.cancel_scope.cancel()


async def _converse(
    system: ActorSystem,
    socket: WebSocketConnection,
    connection_id: str,
    client: str | None,
    closing: trio.Event | None = None,
) -> None:
    sequence = 0
    recent: dict[str, StoredResponse] = {}
    waiting: list[str | bytes] = []  # a message that arrived while a turn was running
    while True:
        stopping = closing is not None and closing.is_set()
        message = (
            waiting.pop() if waiting and not stopping else await _next_message(socket, closing)
        )
        if message is None:
            with trio.move_on_after(_CLOSE_LIMIT):
                await socket.aclose(_GOING_AWAY, "the gateway is stopping")
            return
        try:
            # each message is a call of its own: its own request id, on every log line and
            # in its call record
            turn_id = fresh_request_id()
            with logger.contextualize(request_id=turn_id):
                logger.debug("websocket message {} of connection {}", sequence, connection_id)
                await _turn(system, socket, message, recent, waiting, client, turn_id)
        except BatonError as error:
            await socket.send_message(
                jsoncodec.dumps(
                    {
                        "type": "error",
                        "code": error.code,
                        "message": error.message,
                        "param": error.param,
                        "sequence_number": sequence,
                    }
                ).decode()
            )
        sequence += 1


async def _next_message(
    socket: WebSocketConnection, closing: trio.Event | None
) -> str | bytes | None:
    """The client's next message; None once the gateway is stopping (a message that has not
    arrived by then is not waited for)."""
    if closing is None:
        return await socket.get_message()
    if closing.is_set():
        return None
    received: list[str | bytes] = []
    async with trio.open_nursery() as nursery:

        async def read() -> None:
            received.append(await socket.get_message())
            nursery.cancel_scope.cancel()

        async def stop() -> None:
            await closing.wait()
            nursery.cancel_scope.cancel()

        nursery.start_soon(read)
        nursery.start_soon(stop)
    return received[0] if received else None


async def _turn(
    system: ActorSystem,
    socket: WebSocketConnection,
    message: str | bytes,
    recent: dict[str, StoredResponse],
    waiting: list[str | bytes],
    client: str | None,
    request_id: str,
) -> None:
    """Serve one message while watching the socket: a close cancels the turn (and its call)."""
    async with trio.open_nursery() as nursery:

        async def watch() -> None:
            try:
                waiting.append(await socket.get_message())
            except ConnectionClosed:
                nursery.cancel_scope.cancel()

        nursery.start_soon(watch)
        refused: BatonError | None = None
        try:
            await _serve_one(system, socket, message, recent, client, request_id)
        except BatonError as error:  # raised outside the nursery, not as a group
            refused = error
        nursery.cancel_scope.cancel()
    if socket.closed is not None:
        raise ConnectionClosed(socket.closed)
    if refused is not None:
        raise refused


async def _serve_one(
    system: ActorSystem,
    socket: WebSocketConnection,
    message: str | bytes,
    recent: dict[str, StoredResponse],
    client: str | None,
    request_id: str,
) -> None:
    payload = _create_message(message)
    prepared = await prepare(system, payload, recent, size=len(message))
    stream = ResponseStream(payload, IdFactory.random(), int(time.time()))

    def remember(response: dict[str, Any]) -> None:
        recent[response["id"]] = StoredResponse(response, prepared.items, time.time())
        while len(recent) > _RECENT_LIMIT:
            del recent[next(iter(recent))]
        prepared.save(response)

    if payload.get("generate") is False:  # a prewarm: state for the next turn, no model call
        events = stream.start() + stream.finish(completed_at=int(time.time()))
        remember(stream.response)
        for event in events:
            await socket.send_message(jsoncodec.dumps(event).decode())
        return
    meter = CallMeter(
        system.telemetry, request_id, "responses-ws", client, prepared.chat.model, True
    )
    call, receive = submit(system, prepared, meter)
    relay = ResponsesStream(
        call,
        receive,
        stream,
        first=None,
        keepalive=system.config.timeouts.keepalive,
        on_final=remember,
        on_provenance=log_failed_hops,
    )
    outcome = CANCELLED
    try:
        while True:
            try:
                events = await relay.next_events()
            except StopAsyncIteration:
                outcome = relay.outcome
                return
            if relay.has_output:
                meter.first_content()
            for event in events:
                await socket.send_message(jsoncodec.dumps(event).decode())
    finally:
        await relay.aclose()
        meter.finish(200, outcome, relay.provenance, usage=relay.usage, error=relay.error_code)


def _create_message(message: str | bytes) -> dict[str, Any]:
    try:
        payload = jsoncodec.loads(message)
    except ValueError:
        raise BadRequest("the message is not valid JSON") from None
    if not isinstance(payload, dict):
        raise BadRequest("the message must be a JSON object")
    kind = payload.pop("type", None)
    if kind != "response.create":
        logger.debug("websocket message of type {!r} refused", kind)
        raise BadRequest(f"unsupported message type {kind!r}: send 'response.create'", param="type")
    payload.pop("stream", None)
    payload["stream"] = True
    return payload
