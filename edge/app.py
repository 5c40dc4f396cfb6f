"""The HTTP edge: routes that turn requests into calls for the supervisor, and back.

No routing decisions here: the edge parses and validates (through `protocols/`), submits a
`Call`, and encodes what comes back as JSON, SSE or an OpenAI error envelope.
"""

from __future__ import annotations

import time

import trio
from loguru import logger
from quart import Response, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from actors.messages import Call, Completed, Failed, StreamStarted
from actors.system import ActorSystem
from edge.auth import check_client
from edge.replies import JSON, SSE_HEADERS, error_response, json_response
from edge.responses import register_responses
from edge.responses_ws import register_responses_websocket
from edge.streaming import ChatStream
from protocols.chat import ChatRequest
from protocols.errors import (
    BadRequest,
    BatonError,
    MethodNotAllowed,
    ModelNotFound,
    NotFound,
    PayloadTooLarge,
    error_envelope,
)

_HTTP_ERRORS: dict[int, type[BatonError]] = {
    400: BadRequest,
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
}


def create_app(system: ActorSystem) -> QuartTrio:
    config = system.config
    app = QuartTrio("baton")
    app.config.update(
        MAX_CONTENT_LENGTH=config.server.max_body_bytes,
        RESPONSE_TIMEOUT=None,  # streams last as long as the call's own deadline allows
        BODY_TIMEOUT=config.timeouts.total,
    )
    client_keys = tuple(key.encode() for key in config.server.api_keys)
    started = int(time.time())

    @app.before_request
    async def authenticate() -> None:
        if request.path != "/health":
            check_client(request.headers, client_keys)

    @app.get("/health")
    async def health() -> Response:
        if not system.ready.is_set():
            return json_response({"status": "starting"}, 503)
        return json_response({"status": "ok"})

    @app.post("/v1/chat/completions")
    @app.post("/chat/completions")
    async def chat_completions() -> Response:
        body = await request.get_data(cache=False)
        assert isinstance(body, bytes)
        chat = ChatRequest.from_body(body)
        send, receive = trio.open_memory_channel[object](16)
        call = Call(chat, trio.current_time() + config.timeouts.total, send)
        system.supervisor.submit(call)
        try:
            first = await receive.receive()
        except BaseException:
            call.scope.cancel()
            receive.close()
            raise
        if isinstance(first, StreamStarted):
            stream = ChatStream(call, receive, first.provenance.provider or "")
            return Response(stream, 200, headers={**SSE_HEADERS, **first.provenance.headers()})
        receive.close()
        if isinstance(first, Completed):
            return Response(
                first.body, 200, headers={"content-type": JSON, **first.provenance.headers()}
            )
        assert isinstance(first, Failed), first
        return error_response(first.error, first.provenance.headers())

    register_responses(app, system)
    register_responses_websocket(app, system, client_keys)

    @app.get("/v1/models")
    @app.get("/models")
    async def list_models() -> Response:
        data = [_model_object(model_id, system, started) for model_id in system.router.model_ids()]
        return json_response({"object": "list", "data": data})

    @app.get("/v1/models/<path:model_id>")
    @app.get("/models/<path:model_id>")
    async def get_model(model_id: str) -> Response:
        if system.router.chain_for(model_id) is None:
            raise ModelNotFound(f"The model '{model_id}' does not exist", param="model")
        return json_response(_model_object(model_id, system, started))

    @app.errorhandler(BatonError)
    async def on_baton_error(error: BatonError) -> Response:
        return error_response(error)

    @app.errorhandler(HTTPException)
    async def on_http_error(error: HTTPException) -> Response:
        status = error.code or 500
        kind = _HTTP_ERRORS.get(status)
        if kind is PayloadTooLarge:
            limit = config.server.max_body_bytes
            return error_response(PayloadTooLarge(f"the request body exceeds {limit} bytes"))
        if kind is NotFound:
            return error_response(NotFound(f"no route {request.method} {request.path}"))
        if kind is not None:
            return error_response(kind(error.description or error.name))
        return json_response(
            error_envelope(error.description or error.name, "server_error"), status
        )

    @app.errorhandler(Exception)
    async def on_unexpected(error: Exception) -> Response:
        logger.opt(exception=error).error(
            "unhandled error serving {} {}", request.method, request.path
        )
        return json_response(
            error_envelope("internal gateway error", "server_error", "internal_error"), 500
        )

    return app


def _model_object(model_id: str, system: ActorSystem, created: int) -> dict[str, object]:
    return {
        "id": model_id,
        "object": "model",
        "created": created,
        "owned_by": system.router.owner_of(model_id),
    }
