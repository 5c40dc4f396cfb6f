"""The Responses API's WebSocket mode: `GET /v1/responses` upgraded (a Quart websocket route).

The client sends `{"type": "response.create", ...the POST body fields...}` messages; each is
answered with the same events a stream would carry, one JSON text message per event. Responses
on one connection run one after another, and each can name an earlier one of the same
connection as `previous_response_id` even with `store: false` (the connection remembers its
last few, as the API does). `generate: false` (Codex's prewarm) records the input for the next
turn and answers at once, without a model call. A message that is not a valid
`response.create` gets an `error` event and the connection stays open.

A client that closes the socket (a close frame, or just the TCP connection, as Codex does)
makes Quart-Trio cancel this handler: the call in flight and its upstream request are
cancelled with it, and nothing is logged as an error: a client leaving is not one. When the
gateway stops, an idle socket is closed at once with 1001 (going away); a turn in progress
finishes within the grace period (or ends with `response.failed` when the grace runs out),
then the socket closes with 1001.
"""

from __future__ import annotations

import time
from typing import Any

import trio
from loguru import logger
from quart import websocket

from actors.store import StoredResponse
from actors.system import ActorSystem
from actors.telemetry.record import CANCELLED
from edge.call_log import log_failed_hops
from edge.incoming import Incoming
from edge.meter import CallMeter
from edge.request_ids import fresh_request_id
from edge.responses import prepare
from edge.responses_stream import ResponsesStream
from edge.stopping import Stopping
from edge.walk_events import submit
from protocols import jsoncodec
from protocols.errors import BadRequest, BatonError
from protocols.responses import IdFactory, ResponseStream

_RECENT_LIMIT = 16  # responses a connection remembers for previous_response_id
_GOING_AWAY = 1001  # the standard close code for a server that is stopping


async def serve(system: ActorSystem, request: Incoming, stopping: Stopping) -> None:
    """Run one WebSocket connection (the client is already authenticated) until it closes, or
    the gateway stops."""
    await websocket.accept()
    sequence = 0
    recent: dict[str, StoredResponse] = {}
    while True:
        message = await _next_message(stopping.closing)
        if message is None:
            await websocket.close(_GOING_AWAY, "the gateway is stopping")
            return
        # each message is a call of its own: its own request id, on every log line and in
        # its call record
        turn_id = fresh_request_id()
        with logger.contextualize(request_id=turn_id):
            logger.debug("websocket message {} of connection {}", sequence, request.request_id)
            try:
                await _serve_one(system, message, recent, request.client, turn_id, stopping)
            except BatonError as error:
                await _send(
                    {
                        "type": "error",
                        "code": error.code,
                        "message": error.message,
                        "param": error.param,
                        "sequence_number": sequence,
                    }
                )
        sequence += 1


async def _next_message(closing: trio.Event) -> str | bytes | None:
    """The client's next message; None once the gateway is stopping (a message that has not
    arrived by then is not waited for)."""
    if closing.is_set():
        return None
    received: list[str | bytes] = []
    async with trio.open_nursery() as nursery:

        async def read() -> None:
            received.append(await websocket.receive())
            nursery.cancel_scope.cancel()

        async def stop() -> None:
            await closing.wait()
            nursery.cancel_scope.cancel()

        nursery.start_soon(read)
        nursery.start_soon(stop)
    return received[0] if received else None


async def _send(event: dict[str, Any]) -> None:
    await websocket.send(jsoncodec.dumps(event).decode())


async def _serve_one(
    system: ActorSystem,
    message: str | bytes,
    recent: dict[str, StoredResponse],
    client: str | None,
    request_id: str,
    stopping: Stopping,
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
        prewarm = stream.start() + stream.finish(completed_at=int(time.time()))
        remember(stream.response)
        for event in prewarm:
            await _send(event)
        return
    meter = CallMeter(
        system.telemetry, request_id, "responses-ws", client, prepared.chat.model, True
    )
    call, receive = submit(system, prepared.chat, prepared.native, meter)
    relay = ResponsesStream(
        call,
        receive,
        stream,
        first=None,
        keepalive=system.config.timeouts.keepalive,
        on_final=remember,
        on_provenance=log_failed_hops,
        written=prepared.written,
    )
    outcome = CANCELLED
    try:
        while True:
            events: list[dict[str, Any]] | None = None
            with stopping.watch():
                try:
                    events = await relay.next_events()
                except StopAsyncIteration:
                    outcome = relay.outcome
                    return
            interrupted = events is None  # the grace ran out mid-turn
            if events is None:
                events = relay.farewell_events()
                outcome = relay.outcome
            if relay.has_output:
                meter.first_content()
            for event in events:
                await _send(event)
            if interrupted:
                return
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
