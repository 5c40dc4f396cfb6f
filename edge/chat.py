"""`POST /v1/chat/completions` (and `/chat/completions`): a Chat call for the supervisor, its
answer as JSON, an SSE stream, or the OpenAI error envelope.

The request is parsed and validated by `protocols.chat`, walked by the supervisor under one
deadline, and the outcome encoded: a whole completion passes through as the upstream's bytes;
a stream is relayed by `ChatStream` (the upstream's chunks, then `[DONE]` or an in-band
error); a failure is the envelope with a status a client can act on. Every call leaves a
`CallRecord` through its `CallMeter`, however it ends (a client that left: cancelled).
"""

from __future__ import annotations

import trio
from quart import Blueprint, Response

from actors.messages import Completed, Streaming
from actors.telemetry.record import CANCELLED, OK
from edge.call_log import log_failed_hops
from edge.context import EdgeContext
from edge.incoming import Incoming
from edge.meter import CallMeter, MeteredStream, request_id_of
from edge.replies import JSON, SSE_HEADERS, Answer, Reply, StreamReply, error_response
from edge.request_log import CallTrail
from edge.streaming import ChatStream
from protocols.chat import ChatRequest


def chat_blueprint(edge: EdgeContext) -> Blueprint:
    system = edge.system
    config = system.config
    telemetry = system.telemetry
    blueprint = Blueprint("chat", __name__)

    async def chat_completions(request: Incoming, trail: CallTrail | None) -> Answer:
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

    @blueprint.post("/v1/chat/completions")
    @blueprint.post("/chat/completions")
    async def chat_route() -> Response:
        return await edge.serve_call(chat_completions)

    return blueprint
