"""The Messages API's routes, as one blueprint: `POST /v1/messages` (`edge.messages`) and
`POST /v1/messages/count_tokens`, each also served without the `/v1` prefix. Anthropic's
clients add query strings (Claude Code: `?beta=true`); routes match on the path alone.

`count_tokens` translates the request to Chat and counts it as every counting route does
(`edge.token_counting`): as its chain's first candidate reads it, exact for OpenAI-family
models, an o200k_base estimate for any other (Claude's own included), said in
`x-baton-token-count` and `x-baton-token-encoding`. A model no chain serves is a 404.
"""

from __future__ import annotations

from quart import Blueprint, Response

from edge.context import EdgeContext
from edge.incoming import Incoming
from edge.messages import create_message_route
from edge.messages_errors import messages_error_response
from edge.replies import Answer, json_response
from edge.request_log import CallTrail
from edge.token_counting import count as count_input
from edge.token_counting import count_headers, counting_model
from protocols.anthropic.messages_request import messages_request_from_payload
from protocols.chat import parse_json_object
from protocols.errors import ModelNotFound


def messages_blueprint(edge: EdgeContext) -> Blueprint:
    system = edge.system
    blueprint = Blueprint("messages", __name__)
    create_message = create_message_route(system)

    async def count_tokens(request: Incoming, trail: CallTrail | None) -> Answer:
        payload = parse_json_object(request.body)
        # count_tokens takes a Messages request without `max_tokens` (nothing is generated)
        payload = {**payload, "max_tokens": 1, "stream": False}
        parsed = messages_request_from_payload(payload)
        model = counting_model(system.router, parsed.model)
        if model is None:
            raise ModelNotFound(f"The model '{parsed.model}' does not exist", param="model")
        counted = await count_input(model, chat=parsed.chat)
        return json_response({"input_tokens": counted.tokens}, headers=count_headers(counted))

    @blueprint.post("/v1/messages")
    @blueprint.post("/messages")
    async def create() -> Response:
        return await edge.serve_call(create_message, messages_error_response)

    @blueprint.post("/v1/messages/count_tokens")
    @blueprint.post("/messages/count_tokens")
    async def count() -> Response:
        return await edge.serve_call(count_tokens, messages_error_response)

    return blueprint
