"""The edge: a Quart-Trio app whose routes turn requests into calls for the supervisor and
what comes back into JSON, SSE, WebSocket messages or an OpenAI error envelope.

No routing decisions here: the routes parse and validate (through `protocols/`), submit a
`Call`, and encode the answer. One blueprint per API (`edge.chat`, `edge.responses_routes`,
`edge.messages_routes`, `edge.embeddings`, `edge.ops`, `edge.models`, `edge.info`,
`edge.dashboard`); this module puts them together with what every route shares:
- client keys: every path but `/health`, `/` (a status line, as the original proxy's) and the
  dashboard needs one (`edge.auth`), checked before the route is looked up, so an unknown path
  without a key is a 401, not a 404 (the call routes check theirs themselves, so the request
  log records refused calls too);
- one error envelope for everything that goes wrong (Anthropic's on the Messages paths): a
  `BatonError` is its own envelope, Quart's and Werkzeug's HTTP errors (404, 405, 413 for a body
  over `server.max_body_bytes`, a body that stalls) become ours, and an exception nobody
  expected is a 500 `internal_error` with its traceback logged once, while every other request
  is served on;
- request ids (`edge.request_ids`, an ASGI layer around the app);
- a request framed by both Content-Length and Transfer-Encoding refused before any route runs
  (`edge.framing`, from the request-id layer).
"""

from __future__ import annotations

from typing import Any

from loguru import logger
from quart import Response, current_app, g, request, websocket
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException
from werkzeug.routing.exceptions import WebsocketMismatch

from actors.system import ActorSystem
from edge import logs, request_log
from edge.auth import check_client
from edge.call_log import log_call
from edge.chat import chat_blueprint
from edge.context import EdgeContext
from edge.dashboard import LIVE_PATH, PAGE_PATH, dashboard_blueprint
from edge.embeddings import embeddings_blueprint
from edge.info import ROOT_PATH, info_blueprint
from edge.messages_errors import is_messages_path, messages_error_response
from edge.messages_routes import messages_blueprint
from edge.models import models_blueprint
from edge.ops import health_blueprint, ops_blueprint
from edge.replies import error_response
from edge.request_ids import RequestIds
from edge.responses_routes import responses_blueprint
from edge.stopping import Stopping
from protocols.errors import (
    BadRequest,
    BatonError,
    CallerError,
    InternalError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
)

KEYLESS = frozenset({"/health", ROOT_PATH, PAGE_PATH, LIVE_PATH})
CALLS = frozenset(
    {
        "/v1/chat/completions",
        "/chat/completions",
        "/v1/responses",
        "/responses",
        "/v1/messages",
        "/messages",
        "/v1/messages/count_tokens",
        "/messages/count_tokens",
        "/v1/embeddings",
        "/embeddings",
    }
)


def create_app(system: ActorSystem, stopping: Stopping) -> QuartTrio:
    config = system.config
    logs.register_secrets(logs.config_secrets(config))
    client_keys = tuple(key.encode() for key in config.server.api_keys)
    telemetry = system.telemetry
    if log_call not in telemetry.listeners:
        telemetry.listeners.append(log_call)  # one log line per call, when its record is made
    edge = EdgeContext(system, stopping, client_keys, request_log.active())

    app = QuartTrio("baton")
    app.config.update(
        MAX_CONTENT_LENGTH=config.server.max_body_bytes,
        BODY_TIMEOUT=config.server.body_timeout,  # a body not in by then is a 408
        RESPONSE_TIMEOUT=None,  # a call's own deadline bounds its reply
        PROVIDE_AUTOMATIC_OPTIONS=False,
    )

    def snapshot() -> dict[str, Any]:  # what /stats serves, pushed to the dashboard
        assert system.stats is not None
        return system.stats.snapshot()

    app.register_blueprint(health_blueprint(edge))
    app.register_blueprint(dashboard_blueprint(snapshot, client_keys, stopping.closing))
    app.register_blueprint(chat_blueprint(edge))
    app.register_blueprint(responses_blueprint(edge))
    app.register_blueprint(messages_blueprint(edge))
    app.register_blueprint(embeddings_blueprint(edge))
    app.register_blueprint(ops_blueprint(edge))
    app.register_blueprint(models_blueprint(edge))
    app.register_blueprint(info_blueprint(edge))

    @app.before_request
    async def authenticate() -> None:
        path = request.path
        if path in CALLS and request.method == "POST":
            return  # checked by the call route itself (EdgeContext.serve_call)
        if path not in KEYLESS:
            g.client = check_client(request.headers, client_keys)

    @app.before_websocket
    async def authenticate_socket() -> None:
        if websocket.path not in KEYLESS:
            g.client = check_client(websocket.headers, client_keys)

    install_error_envelopes(app)
    app.asgi_app = RequestIds(app.asgi_app)  # type: ignore[method-assign]
    return app


def install_error_envelopes(app: QuartTrio) -> None:
    """Every error `app` answers, in the OpenAI envelope."""

    @app.errorhandler(BatonError)
    async def baton_error(error: BatonError) -> Response:
        return _envelope(error)

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        return _envelope(_as_baton_error(error))

    @app.errorhandler(Exception)
    async def unexpected(error: Exception) -> Response:
        logger.opt(exception=error).error("unhandled error serving {}", _what())
        return _envelope(InternalError("internal gateway error"))


def _envelope(error: BatonError) -> Response:
    """The error in the envelope of the protocol its path speaks."""
    try:
        path = request.path
    except RuntimeError:  # a websocket
        path = websocket.path
    reply = messages_error_response(error) if is_messages_path(path) else error_response(error)
    return Response(reply.body, reply.status, dict(reply.headers))


def _as_baton_error(error: HTTPException) -> BatonError:
    status = error.code or 500
    if status == 404:
        return NotFound(f"no route {_what()}")
    if status == 405:
        return MethodNotAllowed(f"{_what()}: the method is not allowed on this path")
    if status == 413:
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        return PayloadTooLarge(f"the request body exceeds {limit} bytes")
    if isinstance(error, WebsocketMismatch):
        return MethodNotAllowed(f"{_what()} is a WebSocket: upgrade to it")
    if status == 400:
        return BadRequest(error.description or "bad request")
    code = error.name.lower().replace(" ", "_")
    refused = CallerError(error.description or error.name, code=code)
    refused.status = status
    return refused


def _what() -> str:
    try:
        return f"{request.method} {request.path}"
    except RuntimeError:  # a websocket
        return f"websocket {websocket.path}"
