"""The Messages API's routes, as one blueprint: `POST /v1/messages` (`edge.messages`) and
`POST /v1/messages/count_tokens`, each also served without the `/v1` prefix. Anthropic's
clients add query strings (Claude Code: `?beta=true`); routes match on the path alone.

`count_tokens` counts the request as the model that would serve it first counts it: the
request is translated to Chat, its model resolved through aliases and chains to the first
candidate, and counted with that model's tiktoken encoding (`protocols.token_count`). Only
OpenAI-family models have a tokenizer baton ships; for any other (Claude's own included) the
count is an estimate with o200k_base, close for prose and code but not exact. The reply says
which: `x-baton-token-count: exact` or `estimate`, and the encoding in `x-baton-token-encoding`.
"""

from __future__ import annotations

import trio
from quart import Blueprint, Response

from edge.context import EdgeContext
from edge.incoming import Incoming
from edge.messages import create_message_route
from edge.messages_errors import messages_error_response
from edge.replies import Answer, json_response
from edge.request_log import CallTrail
from protocols.anthropic.messages_request import messages_request_from_payload
from protocols.chat import parse_json_object
from protocols.errors import ModelNotFound
from protocols.token_count import count_chat_input
from protocols.token_encodings import encoding_name, known_encoding_name

COUNT_HEADER = "x-baton-token-count"
ENCODING_HEADER = "x-baton-token-encoding"


def messages_blueprint(edge: EdgeContext) -> Blueprint:
    system = edge.system
    blueprint = Blueprint("messages", __name__)
    create_message = create_message_route(system)

    async def count_tokens(request: Incoming, trail: CallTrail | None) -> Answer:
        payload = parse_json_object(request.body)
        # count_tokens takes a Messages request without `max_tokens` (nothing is generated)
        payload = {**payload, "max_tokens": 1, "stream": False}
        parsed = messages_request_from_payload(payload)
        chain = system.router.chain_for(parsed.model)
        if chain is None:
            raise ModelNotFound(f"The model '{parsed.model}' does not exist", param="model")
        model = chain[0].model if chain else parsed.model
        exact = known_encoding_name(model) is not None
        chat = {**parsed.chat, "model": model}
        # tiktoken releases the GIL; the first count also loads the encoding (up to a second)
        count = await trio.to_thread.run_sync(count_chat_input, chat)
        headers = {
            COUNT_HEADER: "exact" if exact else "estimate",
            ENCODING_HEADER: encoding_name(model),
        }
        return json_response({"input_tokens": count}, headers=headers)

    @blueprint.post("/v1/messages")
    @blueprint.post("/messages")
    async def create() -> Response:
        return await edge.serve_call(create_message, messages_error_response)

    @blueprint.post("/v1/messages/count_tokens")
    @blueprint.post("/messages/count_tokens")
    async def count() -> Response:
        return await edge.serve_call(count_tokens, messages_error_response)

    return blueprint
