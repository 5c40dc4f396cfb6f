"""The routes that only look: `GET /health` (no key), `/stats` and `/metrics` (the model list
is `edge.models`'s, the providers and estimates `edge.info`'s).

`/stats` serves the live state's snapshot (docs/stats.md) and `/metrics` the Prometheus
exposition; both read what the actors publish, never their state.
"""

from __future__ import annotations

from quart import Blueprint, Response

from actors.telemetry.metrics import CONTENT_TYPE as METRICS_TYPE
from edge.context import EdgeContext
from edge.replies import json_response, respond


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

    return blueprint
