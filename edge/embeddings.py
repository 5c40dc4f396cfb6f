"""`POST /v1/embeddings` (and `/embeddings`): embeddings through the same chains, failover,
telemetry and provenance as every call, by way of the embedding batcher, which lets small
concurrent requests for one model share an upstream call (`actors.embedding_batcher`).

A virtual model may be a chain of embedding models (`embed: [openai/text-embedding-3-small,
mistral/mistral-embed]`); a candidate that fails is passed over as for Chat. The reply is the
upstream's list, as it came (or this caller's part of a batch's), with `x-baton-*` headers.
"""

from __future__ import annotations

import trio
from quart import Blueprint, Response

from actors.messages import Failed
from actors.telemetry.record import CANCELLED, OK
from edge.context import EdgeContext
from edge.incoming import Incoming
from edge.meter import CallMeter, request_id_of
from edge.replies import JSON, Answer, Reply, error_response
from edge.request_log import CallTrail
from edge.walk_events import walked
from protocols.embeddings import EmbeddingsRequest


def embeddings_blueprint(edge: EdgeContext) -> Blueprint:
    system = edge.system
    blueprint = Blueprint("embeddings", __name__)

    async def embeddings(request: Incoming, trail: CallTrail | None) -> Answer:
        embed = EmbeddingsRequest.from_body(request.body)
        meter = CallMeter(
            system.telemetry,
            request_id_of(request),
            "embeddings",
            request.client,
            embed.model,
            False,
        )
        assert system.batcher is not None
        try:
            deadline = trio.current_time() + system.config.timeouts.total
            outcome = await system.batcher.embed(embed, deadline, meter.hops)
        except BaseException:
            meter.finish(499, CANCELLED, None)
            raise
        walked(outcome.provenance, trail)
        if isinstance(outcome, Failed):
            reply = error_response(outcome.error, outcome.provenance.headers())
            meter.failed(reply.status, outcome.error.code, outcome.provenance)
            return reply
        meter.finish(200, OK, outcome.provenance, usage=outcome.usage)
        headers = {"content-type": JSON, **outcome.provenance.headers()}
        return Reply(200, headers, outcome.body)

    @blueprint.post("/v1/embeddings")
    @blueprint.post("/embeddings")
    async def embeddings_route() -> Response:
        return await edge.serve_call(embeddings)

    return blueprint
