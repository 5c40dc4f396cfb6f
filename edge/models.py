"""The model list: `GET /v1/models` and `GET /v1/models/{id}` (ids with slashes included), each
also served without the `/v1` prefix.

The list is read by OpenAI's clients and Anthropic's alike, so each object carries both
shapes' fields (OpenAI's `object`/`created`/`owned_by`, Anthropic's `type`/`display_name`/
`created_at`), and the list both envelopes' (`object: list`; `has_more`, `first_id`,
`last_id`): each client reads its own and ignores the rest.

By default each object is also enriched with what is known of the model (the original proxy's
`/v1/models` did the same; `?enriched=false` gives the minimal shape):
- `context_window`, `max_output_tokens`: from the catalog (`Config.model_info`);
- `pricing`: `{input, output, cached_input}` in USD per 1M tokens, and `source`: the
  provider's own `prices:` (`provider`), else the catalog's (`catalog`); each null unknown;
- `capabilities`: `{tools, vision, reasoning, json_schema, embeddings}`, each null unknown.
A virtual model (or an alias) is described by its chain's first candidate, as configured (the
model a call tries first when every provider is healthy), and lists its `chain`.
"""

from __future__ import annotations

import time
from typing import Any

from quart import Blueprint, Response, request

from actors.system import ActorSystem
from config.model import Target
from config.model_info import CAPABILITIES, ModelInfo
from edge.context import EdgeContext
from edge.replies import json_response, respond
from protocols.errors import BadRequest, ModelNotFound

_YES = ("true", "1", "yes", "on")
_NO = ("false", "0", "no", "off")


def models_blueprint(edge: EdgeContext) -> Blueprint:
    system = edge.system
    blueprint = Blueprint("models", __name__)

    @blueprint.get("/v1/models")
    @blueprint.get("/models")
    async def list_models() -> Response:
        enriched = _enriched()
        data = [
            model_object(model_id, system, edge.started, enriched=enriched)
            for model_id in system.router.model_ids()
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
        enriched = _enriched()
        if system.router.chain_for(model_id) is None:
            raise ModelNotFound(f"The model '{model_id}' does not exist", param="model")
        found = model_object(model_id, system, edge.started, enriched=enriched)
        return respond(json_response(found), edge.stopping)

    return blueprint


def model_object(
    model_id: str, system: ActorSystem, created: int, *, enriched: bool = True
) -> dict[str, Any]:
    listed: dict[str, Any] = {
        "id": model_id,
        "object": "model",
        "created": created,
        "owned_by": system.router.owner_of(model_id),
        "type": "model",
        "display_name": model_id,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created)),
    }
    if not enriched:
        return listed
    chain = system.router.chain_for(model_id) or ()
    listed.update(model_details(system, chain[0] if chain else None))
    if chain and not (len(chain) == 1 and chain[0].label == model_id):
        listed["chain"] = [target.label for target in chain]
    return listed


def model_details(system: ActorSystem, target: Target | None) -> dict[str, Any]:
    """What is known of the model `target` names at its provider: every field present, each
    null when unknown."""
    config = system.config
    info = None if target is None else config.model_info(target.provider, target.model)
    known = info or ModelInfo()
    if target is not None and config.price_for(target.provider, target.model) is not None:
        source: str | None = "provider"
    elif known.input_price is not None or known.output_price is not None:
        source = "catalog"
    else:
        source = None
    flags = None if info is None else info.capabilities.as_dict()
    return {
        "context_window": known.context_window,
        "max_output_tokens": known.max_output,
        "pricing": {
            "input": known.input_price,
            "output": known.output_price,
            "cached_input": known.cached_input_price,
            "unit": "USD per 1M tokens",
            "source": source,
        },
        "capabilities": {name: None if flags is None else flags[name] for name in CAPABILITIES},
    }


def _enriched() -> bool:
    value = request.args.get("enriched")
    if value is None or value.strip().lower() in _YES:
        return True
    if value.strip().lower() in _NO:
        return False
    raise BadRequest("'enriched' must be true or false", param="enriched")
