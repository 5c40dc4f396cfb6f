"""The Responses API's routes, as one blueprint: `POST /v1/responses` (JSON or SSE), the same
path upgraded to a WebSocket (the API's WebSocket mode, `edge.responses_ws`), the stored
responses (`GET`/`DELETE /v1/responses/{id}`, `GET .../input_items`), and
`POST /v1/responses/input_tokens` (the request's input counted in tokens, as the upstream
would see it: `edge.token_counting`). `POST /v1/responses/compact` is answered honestly: baton
does not compact conversations, and says so with a 404 in the API's envelope (not a 5xx, which
clients retry). Each route is also served without the `/v1` prefix.
"""

from __future__ import annotations

from quart import Blueprint, Response, g, websocket

from edge import responses_ws
from edge.context import EdgeContext
from edge.incoming import Incoming
from edge.replies import Answer, json_response, respond
from edge.responses import StoredRoutes, create_route, prepare
from edge.token_counting import count, count_headers, counting_model
from protocols.chat import parse_json_object
from protocols.errors import NotFound


class NotImplementedByBaton(NotFound):
    code = "unsupported_endpoint"


def responses_blueprint(edge: EdgeContext) -> Blueprint:
    system = edge.system
    blueprint = Blueprint("responses", __name__)
    create_response = create_route(system)
    stored = StoredRoutes(system)

    def answer(reply: Answer) -> Response:
        return respond(reply, edge.stopping)

    @blueprint.post("/v1/responses")
    @blueprint.post("/responses")
    async def create() -> Response:
        return await edge.serve_call(create_response)

    @blueprint.websocket("/v1/responses")
    @blueprint.websocket("/responses")
    async def socket() -> None:
        incoming = await Incoming.read(websocket, g.get("client"))
        await responses_ws.serve(system, incoming, edge.stopping)

    @blueprint.post("/v1/responses/input_tokens")
    @blueprint.post("/responses/input_tokens")
    async def input_tokens() -> Response:
        incoming = await edge.incoming()
        payload = parse_json_object(incoming.body)
        payload["stream"] = False
        prepared = await prepare(system, payload, size=len(incoming.body))
        requested = str(payload.get("model") or "")
        model = counting_model(system.router, requested) or requested
        counted = await count(model, chat=prepared.chat.payload)
        body = {"object": "response.input_tokens", "input_tokens": counted.tokens}
        return answer(json_response(body, headers=count_headers(counted)))

    @blueprint.post("/v1/responses/compact")
    @blueprint.post("/responses/compact")
    async def compact() -> Response:
        raise NotImplementedByBaton(
            "baton does not implement POST /v1/responses/compact: keep the conversation "
            "client-side or send it whole (previous_response_id works)"
        )

    @blueprint.get("/v1/responses/<response_id>")
    @blueprint.get("/responses/<response_id>")
    async def get(response_id: str) -> Response:
        return answer(await stored.get(response_id))

    @blueprint.delete("/v1/responses/<response_id>")
    @blueprint.delete("/responses/<response_id>")
    async def delete(response_id: str) -> Response:
        return answer(await stored.delete(response_id))

    @blueprint.get("/v1/responses/<response_id>/input_items")
    @blueprint.get("/responses/<response_id>/input_items")
    async def input_items(response_id: str) -> Response:
        incoming = await edge.incoming()
        return answer(await stored.input_items(incoming.args, response_id))

    return blueprint
