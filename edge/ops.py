"""The routes that only look: `GET /health` (no key), `/stats`, `/metrics`, and the model list
(`/v1/models`, `/v1/models/{id}`, ids with slashes included).

The model list is read by OpenAI's clients and Anthropic's alike, so each object carries both
shapes' fields (OpenAI's `object`/`created`/`owned_by`, Anthropic's `type`/`display_name`/
`created_at`), and the list both envelopes' (`object: list`; `has_more`, `first_id`,
`last_id`): each client reads its own and ignores the rest.

`/stats` serves the live state's snapshot (docs/stats.md) and `/metrics` the Prometheus
exposition; both read what the actors publish, never their state.
"""

from __future__ import annotations

import time

from quart import Blueprint, Response

from actors.system import ActorSystem
from actors.telemetry.metrics import CONTENT_TYPE as METRICS_TYPE
from edge.context import EdgeContext
from edge.replies import json_response, respond
from protocols.errors import ModelNotFound


def health_blueprint(edge: EdgeContext) -> Blueprint:
    system = edge.system
    blueprint = Blueprint("health", __name__)

    @blueprint.get("/health")
    async def health() -> Response:
        if not system.ready.is_set():
            return respond(json_response({"status": "starting"}, 503), edge.stopping)
        return respond(json_response({"status": "ok"}), edge.stopping)

    return blueprint


def ops_blueprint(edge: EdgeContext) -> Blueprint:
    system = edge.system
    blueprint = Blueprint("ops", __name__)

    @blueprint.get("/stats")
    async def stats() -> Response:
        assert system.stats is not None
        return respond(json_response(system.stats.snapshot()), edge.stopping)

    @blueprint.get("/metrics")
    async def metrics() -> Response:
        body = system.telemetry.metrics.exposition()
        return Response(body, 200, {"content-type": METRICS_TYPE})

    @blueprint.get("/v1/models")
    @blueprint.get("/models")
    async def list_models() -> Response:
        data = [
            _model_object(model_id, system, edge.started) for model_id in system.router.model_ids()
        ]
        listing = {
            "object": "list",
            "data": data,
            "has_more": False,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }
        return respond(json_response(listing), edge.stopping)

    @blueprint.get("/v1/models/<path:model_id>")
    @blueprint.get("/models/<path:model_id>")
    async def get_model(model_id: str) -> Response:
        if system.router.chain_for(model_id) is None:
            raise ModelNotFound(f"The model '{model_id}' does not exist", param="model")
        return respond(json_response(_model_object(model_id, system, edge.started)), edge.stopping)

    return blueprint


def _model_object(model_id: str, system: ActorSystem, created: int) -> dict[str, object]:
    return {
        "id": model_id,
        "object": "model",
        "created": created,
        "owned_by": system.router.owner_of(model_id),
        "type": "model",
        "display_name": model_id,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created)),
    }
