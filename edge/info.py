"""What a client can ask about the gateway without calling a model, as the original
LLM-API-Key-Proxy offered it: `GET /` (a status line, no key), `GET /v1/providers`,
`POST /v1/token-count` and `POST /v1/cost-estimate` (each also without the `/v1` prefix, each
with a client key, errors in the OpenAI envelope).

- `/` says the gateway is up, which the original answered without a key too: it names baton
  and its version and nothing configured (503 `starting` until the actors run, as `/health`).
- `/v1/providers` lists each configured provider: `name`, `kind`, `host` (the base URL's host
  and port only: a path or query may hold a token, userinfo a password), `models` (`"*"`
  as such), `key_count` (never a key or its alias), `health` (the health checker's last word:
  up, degraded, down, unknown) and `priority`.
- `/v1/token-count` takes `model` and `messages` (a Chat request: tools and response_format
  count too) or `text`, and answers `token_count` with how it counted (`edge.token_counting`).
- `/v1/cost-estimate` takes `model` and token counts (`input_tokens`/`prompt_tokens`,
  `output_tokens`/`completion_tokens`, `cached_tokens`/`cache_read_tokens`,
  `reasoning_tokens`), or a Chat request (`messages`) whose input is counted, its output then
  taken as `max_completion_tokens`/`max_tokens` when no output count is given (an upper
  bound). The model is resolved like a call's, to its chain's first candidate, and priced by
  that provider's `prices:`, else the catalog (`config.prices.quoted_price`), by the rules of
  `config.prices.cost_of`. An unknown price is `cost: null, price_known: false`, never $0.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any
from urllib.parse import urlsplit

import trio
from quart import Blueprint, Response

from config.model import Price, ProviderConfig
from config.prices import cost_of, quoted_price
from edge.context import EdgeContext
from edge.replies import json_response, respond
from edge.token_counting import count, count_headers, counting_model
from protocols.chat import parse_json_object
from protocols.errors import BadRequest, ModelNotFound
from protocols.usage import Usage

ROOT_PATH = "/"
_INPUT = ("input_tokens", "prompt_tokens")
_OUTPUT = ("output_tokens", "completion_tokens")
_CACHED = ("cached_tokens", "cache_read_tokens")
_OUTPUT_CAP = ("max_completion_tokens", "max_tokens")


def baton_version() -> str:
    try:
        return version("baton")
    except PackageNotFoundError:
        return "unknown"


def info_blueprint(edge: EdgeContext) -> Blueprint:
    system = edge.system
    blueprint = Blueprint("info", __name__)

    def answer(body: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return respond(json_response(body, status, headers), edge.stopping)

    @blueprint.get(ROOT_PATH)
    async def root() -> Response:
        ready = system.ready.is_set()
        status = {"status": "ok" if ready else "starting", "service": "baton"}
        return answer({**status, "version": baton_version()}, 200 if ready else 503)

    @blueprint.get("/v1/providers")
    @blueprint.get("/providers")
    async def providers() -> Response:
        now = trio.current_time()
        data = [
            provider_object(provider, system.health.state(name, now).value)
            for name, provider in system.config.providers.items()
        ]
        return answer({"object": "list", "data": data})

    @blueprint.post("/v1/token-count")
    @blueprint.post("/token-count")
    async def token_count() -> Response:
        payload = parse_json_object((await edge.incoming()).body)
        model = _model(payload)
        messages, text = payload.get("messages"), payload.get("text")
        if messages is None and text is None:
            raise BadRequest("'messages' or 'text' is required", param="messages")
        if messages is None and not isinstance(text, str):
            raise BadRequest("'text' must be a string", param="text")
        counting = counting_model(system.router, model) or model
        chat = payload if messages is not None else None
        counted = await count(counting, chat=chat, text=None if chat else text)
        body = {
            "token_count": counted.tokens,
            "model": model,
            "counted_as": counting,
            "exact": counted.exact,
            "encoding": counted.encoding,
        }
        return answer(body, headers=count_headers(counted))

    @blueprint.post("/v1/cost-estimate")
    @blueprint.post("/cost-estimate")
    async def cost_estimate() -> Response:
        payload = parse_json_object((await edge.incoming()).body)
        model = _model(payload)
        chain = system.router.chain_for(model)
        if not chain:
            raise ModelNotFound(f"The model '{model}' does not exist", param="model")
        target = chain[0]
        input_tokens = _tokens(payload, _INPUT)
        output_tokens = _tokens(payload, _OUTPUT)
        headers: dict[str, str] = {}
        counted = None
        if payload.get("messages") is not None:
            counted = await count(target.model, chat=payload)
            headers = count_headers(counted)
            input_tokens = counted.tokens if input_tokens is None else input_tokens
            if output_tokens is None:
                output_tokens = _tokens(payload, _OUTPUT_CAP)
        usage = Usage(
            input=input_tokens or 0,
            output=output_tokens or 0,
            cached=_tokens(payload, _CACHED) or 0,
            reasoning=_tokens(payload, ("reasoning_tokens",)) or 0,
        )
        price, source = quoted_price(system.config, target.provider, target.model)
        body: dict[str, Any] = {
            "object": "cost_estimate",
            "model": model,
            "provider": target.provider,
            "upstream_model": target.model,
            "input_tokens": usage.input,
            "output_tokens": usage.output,
            "cached_tokens": usage.cached,
            "reasoning_tokens": usage.reasoning,
            "cost": cost_of(usage, price),
            "currency": "USD",
            "price_known": price is not None,
            "pricing": None if price is None else {**_price_fields(price), "source": source},
        }
        if counted is not None:
            body["input_counted"] = {"exact": counted.exact, "encoding": counted.encoding}
        return answer(body, headers=headers)

    return blueprint


def provider_object(provider: ProviderConfig, health: str) -> dict[str, Any]:
    return {
        "name": provider.name,
        "kind": provider.kind,
        "host": host_of(provider.base_url),
        "models": list(provider.models),
        "key_count": sum(1 for key in provider.keys if key.secret is not None),
        "health": health,
        "priority": provider.priority,
    }


def host_of(url: str) -> str | None:
    """`host[:port]` of `url`, nothing else of it (no userinfo, path or query)."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if host is None:
        return None
    host = f"[{host}]" if ":" in host else host
    return host if port is None else f"{host}:{port}"


def _price_fields(price: Price) -> dict[str, object]:
    return {
        "input": price.input,
        "output": price.output,
        "cached_input": price.cached_input,
        "reasoning": price.reasoning,
        "unit": "USD per 1M tokens",
    }


def _model(payload: dict[str, Any]) -> str:
    model = payload.get("model")
    if not isinstance(model, str) or not model.strip():
        raise BadRequest("'model' is required", param="model")
    return model


def _tokens(payload: dict[str, Any], names: tuple[str, ...]) -> int | None:
    """The first of `names` the payload gives, a whole number >= 0; None: none given."""
    for name in names:
        value = payload.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise BadRequest(f"'{name}' must be a whole number >= 0", param=name)
        return value
    return None
