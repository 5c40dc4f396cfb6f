"""The Responses API's WebSocket mode: `GET /v1/responses` upgraded.

The client sends `{"type": "response.create", ...the POST body fields...}` messages; each is
answered with the same events a stream would carry, one JSON text message per event. Responses
on one connection run one after another, and each can name an earlier one of the same
connection as `previous_response_id` even with `store: false` (the connection remembers its
last few, as the API does). `generate: false` (Codex's prewarm) records the input for the next
turn and answers at once, without a model call. A message that is not a valid `response.create` gets
an `error` event and the connection stays open; a closed socket cancels the call in flight,
and the upstream request with it (Quart cancels this handler when the client disconnects).
"""

from __future__ import annotations

import time
from typing import Any

from loguru import logger
from quart import Response, websocket
from quart_trio import QuartTrio

from actors.store import StoredResponse
from actors.system import ActorSystem
from edge.auth import check_client
from edge.responses import prepare, submit
from edge.responses_stream import ResponsesStream
from protocols import jsoncodec
from protocols.errors import BadRequest, BatonError
from protocols.responses import IdFactory, ResponseStream

_RECENT_LIMIT = 16  # responses a connection remembers for previous_response_id


def register_responses_websocket(
    app: QuartTrio, system: ActorSystem, client_keys: tuple[bytes, ...]
) -> None:
    @app.websocket("/v1/responses")
    @app.websocket("/responses")
    async def responses_socket() -> Response | None:
        try:
            check_client(websocket.headers, client_keys)
        except BatonError as error:  # refuse the upgrade with the envelope, as HTTP would
            return Response(
                error.body(), error.status, headers={"content-type": "application/json"}
            )
        await websocket.accept()
        sequence = 0
        recent: dict[str, StoredResponse] = {}
        while True:
            message = await websocket.receive()
            try:
                await _serve_one(system, message, recent)
            except BatonError as error:
                await websocket.send(
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


async def _serve_one(
    system: ActorSystem, message: str | bytes, recent: dict[str, StoredResponse]
) -> None:
    payload = _create_message(message)
    prepared = await prepare(system, payload, recent)
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
            await websocket.send(jsoncodec.dumps(event).decode())
        return
    call, receive = submit(system, prepared)
    relay = ResponsesStream(
        call,
        receive,
        stream,
        first=None,
        keepalive=system.config.timeouts.keepalive,
        on_final=remember,
    )
    try:
        while True:
            try:
                events = await relay.next_events()
            except StopAsyncIteration:
                return
            for event in events:
                await websocket.send(jsoncodec.dumps(event).decode())
    finally:
        await relay.aclose()


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
