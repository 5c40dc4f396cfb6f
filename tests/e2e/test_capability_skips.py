"""Candidates that cannot take a request are passed over before any call, shown in the route
as `=skip:<reason>`, by what the model catalog (here `model_catalog:`) says of them."""

from __future__ import annotations

from typing import Any

import trio

from edge.simulator import Complete, always
from tests.e2e.harness import gateway_config, start_gateway, start_upstreams

CATALOG = {  # `capabilities` as a list: exactly these
    "plain-model": {"capabilities": [], "context_window": 100_000},
    "tiny-model": {"capabilities": ["tools", "vision"], "context_window": 1_000},
    "able-model": {"capabilities": ["tools", "vision", "json_schema"], "context_window": 200_000},
    "embed-model": {"capabilities": ["embeddings"], "context_window": 8_000},
}
TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}


async def test_skips_show_in_the_route_and_an_all_skipped_chain_says_why() -> None:
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            upstreams = await start_upstreams(nursery, up=always(Complete("ok")))
            document = gateway_config(
                upstreams,
                virtual_models={
                    "vm": ["up/plain-model", "up/tiny-model", "up/able-model"],
                    "chat-only": ["up/plain-model"],
                    "embed": ["up/plain-model", "up/embed-model"],
                },
            )
            document["model_catalog"] = CATALOG
            gateway = await start_gateway(nursery, document, upstreams)
            hi = [{"role": "user", "content": "hi"}]
            long_prompt = [{"role": "user", "content": "word " * 20_000}]
            seen: dict[str, Any] = {}
            async with gateway.http() as http:

                async def chat(name: str, model: str, **fields: Any) -> None:
                    body = {"model": model, "messages": hi, **fields}
                    seen[name] = await http.post("/v1/chat/completions", json=body)

                await chat("plain", "vm")
                await chat("tools", "vm", tools=TOOLS)
                await chat("image", "vm", messages=[{"role": "user", "content": [IMAGE]}])
                await chat("long", "vm", messages=long_prompt, tools=TOOLS)
                await chat("no one", "chat-only", tools=TOOLS)
                seen["embed"] = await http.post(
                    "/v1/embeddings", json={"model": "embed", "input": "x"}
                )
                seen["embed on chat"] = await http.post(
                    "/v1/embeddings", json={"model": "chat-only", "input": "x"}
                )
            routes = {name: reply.headers.get("x-baton-route") for name, reply in seen.items()}
            assert routes["plain"] == "up/plain-model=200"
            assert routes["tools"] == "up/plain-model=skip:tools,up/tiny-model=200"
            assert routes["image"] == "up/plain-model=skip:vision,up/tiny-model=200"
            assert routes["long"] == (
                "up/plain-model=skip:tools,up/tiny-model=skip:context_window,up/able-model=200"
            )
            assert routes["embed"] == "up/plain-model=skip:not_embeddings,up/embed-model=200"
            refused = seen["no one"]
            assert refused.status_code == 400
            error = refused.json()["error"]
            assert error["code"] == "no_capable_candidate"
            assert "up/plain-model: tools" in error["message"]
            assert seen["embed on chat"].json()["error"]["code"] == "no_capable_candidate"
            sent_models = [call.json["model"] for call in upstreams["up"].calls]
            assert "plain-model" not in sent_models[1:]  # never called for what it cannot do
            nursery.cancel_scope.cancel()
