"""The edge's routes: requests become calls for the supervisor, and what comes back becomes
JSON, SSE or an OpenAI error envelope.

No routing decisions here: the edge parses and validates (through `protocols/`), submits a
`Call`, and encodes the answer. `create_handler` gives the HTTP server (`edge.wire`) one
function that authenticates, finds the route and turns every `BatonError` into its envelope.

Each request is named by `request.request_id` (the server sends it back as `x-request-id` and
binds it to every log line of the request). With `--log-requests`, the call routes (`POST`
chat completions and responses) are recorded by `edge.request_log`; without it they get no
trail and nothing of it costs anything.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import trio
from loguru import logger

from actors.messages import Completed, Streaming
from actors.system import ActorSystem
from actors.telemetry.metrics import CONTENT_TYPE as METRICS_TYPE
from actors.telemetry.record import CANCELLED, OK
from edge import logs, request_log, responses, responses_ws
from edge.auth import check_client
from edge.call_log import log_call, log_failed_hops
from edge.dashboard import dashboard_routes
from edge.meter import CallMeter, MeteredStream, request_id_of
from edge.replies import JSON, SSE_HEADERS, error_response, json_response
from edge.request_log import CallTrail
from edge.streaming import ChatStream
from edge.wire import Reply, Request, StreamReply, TakeOver
from protocols.chat import ChatRequest
from protocols.errors import BatonError, MethodNotAllowed, ModelNotFound, NotFound

Answer = Reply | StreamReply | TakeOver
Route = Callable[..., Awaitable[Answer]]  # (request) or, for a recorded call, (request, trail)
RECORDED_PATHS = frozenset(
    {"/v1/chat/completions", "/chat/completions", "/v1/responses", "/responses"}
)


def create_handler(system: ActorSystem) -> Callable[[Request], Awaitable[Answer]]:
    config = system.config
    logs.register_secrets(logs.config_secrets(config))
    client_keys = tuple(key.encode() for key in config.server.api_keys)
    recorder = request_log.active()
    started = int(time.time())
    telemetry = system.telemetry
    if log_call not in telemetry.listeners:
        telemetry.listeners.append(log_call)  # one log line per call, when its record is made

    async def health(request: Request) -> Answer:
        if not system.ready.is_set():
            return json_response({"status": "starting"}, 503)
        return json_response({"status": "ok"})

    async def chat_completions(request: Request, trail: CallTrail | None = None) -> Answer:
        chat = ChatRequest.from_body(request.body)
        meter = CallMeter(
            telemetry, request_id_of(request), "chat", request.client, chat.model, chat.stream
        )
        try:
            deadline = trio.current_time() + config.timeouts.total
            outcome = await system.supervisor.call(chat, deadline, hops=meter.hops)
        except BaseException:  # the client left, or the gateway is stopping
            meter.finish(499, CANCELLED, None)
            raise
        log_failed_hops(outcome.provenance)
        if trail is not None:
            trail.attempts(outcome.provenance.hops)
        if isinstance(outcome, Streaming):
            headers = {**SSE_HEADERS, **outcome.provenance.headers()}
            body = MeteredStream(ChatStream(outcome), meter, outcome.provenance)
            return StreamReply(200, headers, body)
        if isinstance(outcome, Completed):
            meter.finish(200, OK, outcome.provenance, usage=outcome.usage)
            headers = {"content-type": JSON, **outcome.provenance.headers()}
            return Reply(200, headers, outcome.body)
        reply = error_response(outcome.error, outcome.provenance.headers())
        meter.failed(reply.status, outcome.error.code, outcome.provenance)
        return reply

    async def stats(request: Request) -> Answer:
        assert system.stats is not None
        return json_response(system.stats.snapshot())

    async def metrics(request: Request) -> Answer:
        return Reply(200, {"content-type": METRICS_TYPE}, telemetry.metrics.exposition())

    async def list_models(request: Request) -> Answer:
        data = [_model_object(model_id, system, started) for model_id in system.router.model_ids()]
        return json_response({"object": "list", "data": data})

    async def get_model(request: Request, model_id: str) -> Answer:
        if system.router.chain_for(model_id) is None:
            raise ModelNotFound(f"The model '{model_id}' does not exist", param="model")
        return json_response(_model_object(model_id, system, started))

    async def responses_socket(request: Request) -> Answer:
        if not request.upgrade:
            raise MethodNotAllowed("GET /v1/responses is the WebSocket mode: upgrade to it")
        return TakeOver(
            lambda stream, closing: responses_ws.serve(system, request, stream, closing)
        )

    create_response = responses.create_route(system)
    stored = responses.stored_routes(system)

    def snapshot() -> dict[str, Any]:  # what /stats serves, pushed to the dashboard
        assert system.stats is not None
        return system.stats.snapshot()

    dashboard = dashboard_routes(snapshot, client_keys)  # keyless: the feed checks in-band
    keyless = {"/health", *dashboard}
    exact: dict[str, dict[str, Route]] = {
        "/health": {"GET": health},
        "/v1/chat/completions": {"POST": chat_completions},
        "/chat/completions": {"POST": chat_completions},
        "/v1/responses": {"POST": create_response, "GET": responses_socket},
        "/responses": {"POST": create_response, "GET": responses_socket},
        "/v1/models": {"GET": list_models},
        "/stats": {"GET": stats},
        "/metrics": {"GET": metrics},
        "/models": {"GET": list_models},
        **dashboard,
    }

    def find(request: Request) -> Route:
        path = request.path
        methods = exact.get(path)
        if methods is None:
            for prefix in ("/v1/models/", "/models/"):
                if path.startswith(prefix) and len(path) > len(prefix):
                    methods = {"GET": partial(get_model, model_id=path[len(prefix) :])}
                    break
            else:
                methods = stored.find(path)
        if methods is None:
            raise NotFound(f"no route {request.method} {path}")
        route = methods.get(request.method)
        if route is None:
            raise MethodNotAllowed(f"{request.method} is not allowed on {path}")
        return route

    async def answer(request: Request, trail: CallTrail | None) -> Answer:
        try:
            if request.path not in keyless:
                request.client = check_client(request.headers, client_keys)
            route = find(request)
            if trail is not None:
                return await route(request, trail)
            return await route(request)
        except BatonError as error:
            return error_response(error)

    async def handle(request: Request) -> Answer:
        logger.debug("{} {}", request.method, request.target or request.path)
        trail = None
        if recorder is not None and request.method == "POST" and request.path in RECORDED_PATHS:
            trail = recorder.begin(request)
        reply = await answer(request, trail)
        if not isinstance(reply, TakeOver):
            logger.debug("{} {} -> {}", request.method, request.path, reply.status)
        return reply if trail is None else trail.reply(reply)

    return handle


def _model_object(model_id: str, system: ActorSystem, created: int) -> dict[str, object]:
    return {
        "id": model_id,
        "object": "model",
        "created": created,
        "owned_by": system.router.owner_of(model_id),
    }
