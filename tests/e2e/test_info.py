"""The original proxy's info surface through a real gateway: the enriched and minimal model
list, `/v1/providers` (no secret in it), `GET /` without a key, `/v1/token-count`,
`/v1/cost-estimate`, and one counter behind every counting route."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx2
import pytest
import trio

from edge.simulator import Complete, always
from tests.e2e.harness import Gateway, gateway_config, in_thread, start_gateway, start_upstreams
from tests.schema import validate

SECRETS = ("alpha-secret-key-1", "alpha-secret-key-2", "beta-secret-key")
MINIMAL = {"id", "object", "created", "owned_by", "type", "display_name", "created_at"}
WRONG_KEY = {"authorization": "Bearer wrong"}
HI = [{"role": "user", "content": "hi"}]
# gpt-4o and gpt-4 alike: 3 per message + "user" (1) + "hi" (1) + 3 for the reply primer
HI_TOKENS = 8

Test = Callable[[Gateway, Any], Awaitable[None]]


async def run(test: Test) -> None:
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            upstreams = await start_upstreams(
                nursery, alpha=always(Complete("from alpha")), beta=always(Complete("beta"))
            )
            beta = upstreams["beta"]
            document = gateway_config(
                upstreams,
                keys={"alpha": list(SECRETS[:2]), "beta": [SECRETS[2]]},
                virtual_models={
                    "vm": ["alpha/gpt-4o", "beta/x"],
                    "cat": ["beta/gpt-4o-mini"],
                    "free": ["beta/mystery-model"],
                    "old": ["beta/gpt-4"],
                },
                providers={
                    "alpha": {
                        "models": ["gpt-4o", "m"],
                        "priority": 5,
                        "prices": {"gpt-4o": {"input": 2, "output": 8, "cached_input": 1}},
                    },
                    "beta": {
                        # a password and a token in the URL: neither may be shown
                        "base_url": f"http://user:url-password@127.0.0.1:{beta.port}/v1"
                        "?token=url-token",
                        "health": "off",
                    },
                },
                model_aliases={"claude-*": "vm", "plain-alias": "vm"},
            )
            document["model_catalog"] = {"beta/x": {"context_window": 4096}}
            gateway = await start_gateway(nursery, document, upstreams)
            async with gateway.http() as http:
                await test(gateway, http)
            nursery.cancel_scope.cancel()


def by_id(listing: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {model["id"]: model for model in listing["data"]}


async def test_the_model_list_is_enriched_by_default() -> None:
    async def test(gateway: Gateway, http: Any) -> None:
        reply = await http.get("/v1/models")
        assert reply.status_code == 200, reply.text
        models = by_id(reply.json())
        vm = models["vm"]
        assert vm["chain"] == ["alpha/gpt-4o", "beta/x"]
        assert (vm["context_window"], vm["max_output_tokens"]) == (128_000, 16_384)
        # alpha's own prices win over the catalog's gpt-4o (2.5/10/1.25)
        assert vm["pricing"] == {
            "input": 2.0,
            "output": 8.0,
            "cached_input": 1.0,
            "unit": "USD per 1M tokens",
            "source": "provider",
        }
        assert vm["capabilities"] == {
            "tools": True,
            "vision": True,
            "reasoning": False,
            "json_schema": True,
            "embeddings": False,
        }
        assert models["plain-alias"]["chain"] == vm["chain"]  # an alias: its model's chain
        assert "chain" not in models["alpha/gpt-4o"]
        unknown = models["alpha/m"]
        assert unknown["context_window"] is None and unknown["max_output_tokens"] is None
        assert set(unknown["pricing"].values()) == {None, "USD per 1M tokens"}
        assert set(unknown["capabilities"].values()) == {None}
        # one model: the same object; a hop priced by the catalog alone says so
        one = await http.get("/v1/models/vm")
        assert one.json() == vm
        cat = (await http.get("/v1/models/cat")).json()
        assert cat["pricing"]["input"] == 0.15 and cat["pricing"]["source"] == "catalog"
        configured = (await http.get("/v1/models/beta/x")).json()  # model_catalog: over none
        assert configured["context_window"] == 4096 and "chain" not in configured
        # the openai client reads the enriched list as its own
        listed = await in_thread(lambda: list(gateway.client().models.list()))
        assert [model.id for model in listed] == list(models)

    await run(test)


async def test_enriched_false_gives_the_minimal_shape() -> None:
    async def test(gateway: Gateway, http: Any) -> None:
        reply = await http.get("/v1/models", params={"enriched": "false"})
        listing = reply.json()
        validate(listing, "ListModelsResponse")
        assert all(set(model) == MINIMAL for model in listing["data"])
        assert listing["has_more"] is False
        assert listing["first_id"] == listing["data"][0]["id"] == "vm"
        assert listing["last_id"] == listing["data"][-1]["id"]
        one = (await http.get("/v1/models/vm?enriched=0")).json()
        validate(one, "Model")
        assert set(one) == MINIMAL
        wrong = await http.get("/v1/models?enriched=maybe")
        assert wrong.status_code == 400
        assert wrong.json()["error"]["param"] == "enriched"
        missing = await http.get("/v1/models/nothing-such")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "model_not_found"

    await run(test)


async def test_providers_show_hosts_key_counts_and_health_never_a_secret() -> None:
    async def test(gateway: Gateway, http: Any) -> None:
        await gateway.chat("alpha/gpt-4o")  # alpha is heard from: up
        reply = await http.get("/v1/providers")
        assert reply.status_code == 200, reply.text
        for secret in (*SECRETS, "url-password", "url-token", "user"):
            assert secret not in reply.text
        alpha, beta = reply.json()["data"]
        port = {name: gateway.upstreams[name].port for name in ("alpha", "beta")}
        assert alpha == {
            "name": "alpha",
            "kind": "openai",
            "host": f"127.0.0.1:{port['alpha']}",
            "models": ["gpt-4o", "m"],
            "key_count": 2,
            "health": "up",
            "priority": 5,
        }
        assert beta["host"] == f"127.0.0.1:{port['beta']}"
        assert (beta["models"], beta["key_count"], beta["health"]) == (["*"], 1, "unknown")
        async with httpx2.AsyncClient(base_url=gateway.url, headers=WRONG_KEY) as stranger:
            refused = await stranger.get("/v1/providers")
            root = await stranger.get("/")  # the status line needs no key, as the original's
        assert refused.status_code == 401
        assert refused.json()["error"]["type"] == "authentication_error"
        assert root.status_code == 200
        assert root.json() == {
            "status": "ok",
            "service": "baton",
            "version": root.json()["version"],
        }
        assert root.json()["version"]

    await run(test)


async def test_token_count_says_whether_it_is_exact() -> None:
    async def test(gateway: Gateway, http: Any) -> None:
        exact = await http.post("/v1/token-count", json={"model": "vm", "messages": HI})
        assert exact.status_code == 200, exact.text
        assert exact.json() == {
            "token_count": HI_TOKENS,
            "model": "vm",
            "counted_as": "gpt-4o",  # vm's first candidate
            "exact": True,
            "encoding": "o200k_base",
        }
        assert exact.headers["x-baton-token-count"] == "exact"
        text = await http.post("/v1/token-count", json={"model": "free", "text": "hello world"})
        assert text.json()["token_count"] == 2  # "hello", " world": no message framing
        assert (text.json()["exact"], text.json()["counted_as"]) == (False, "mystery-model")
        assert text.headers["x-baton-token-count"] == "estimate"
        assert text.headers["x-baton-token-encoding"] == "o200k_base"
        named = await http.post("/v1/token-count", json={"model": "gpt-4", "messages": HI})
        assert named.json()["counted_as"] == "gpt-4"  # served by no chain: counted as named
        assert named.json()["encoding"] == "cl100k_base" and named.json()["exact"] is True
        for body, param in (({"messages": HI}, "model"), ({"model": "vm"}, "messages")):
            refused = await http.post("/v1/token-count", json=body)
            assert refused.status_code == 400
            assert refused.json()["error"]["param"] == param

    await run(test)


async def test_cost_estimate_from_provider_prices_the_catalog_or_honestly_unknown() -> None:
    async def test(gateway: Gateway, http: Any) -> None:
        async def estimate(**body: Any) -> dict[str, Any]:
            reply = await http.post("/v1/cost-estimate", json=body)
            assert reply.status_code == 200, reply.text
            return dict(reply.json())

        known = await estimate(
            model="claude-x", input_tokens=1_000_000, output_tokens=500_000, cached_tokens=200_000
        )
        # claude-x -> vm -> alpha/gpt-4o: 800k at $2 + 200k cached at $1 + 500k out at $8
        assert known["cost"] == pytest.approx(1.6 + 0.2 + 4.0)
        assert (known["provider"], known["upstream_model"]) == ("alpha", "gpt-4o")
        assert known["price_known"] is True and known["currency"] == "USD"
        assert known["pricing"]["source"] == "provider" and known["pricing"]["output"] == 8.0
        catalog = await estimate(model="cat", prompt_tokens=1000, completion_tokens=1000)
        assert catalog["cost"] == pytest.approx((1000 * 0.15 + 1000 * 0.6) / 1e6)
        assert catalog["pricing"]["source"] == "catalog"
        unknown = await estimate(model="free", input_tokens=1000, output_tokens=1000)
        assert (unknown["cost"], unknown["price_known"], unknown["pricing"]) == (None, False, None)
        counted = await http.post(
            "/v1/cost-estimate", json={"model": "vm", "messages": HI, "max_tokens": 100}
        )
        body = counted.json()
        assert (body["input_tokens"], body["output_tokens"]) == (HI_TOKENS, 100)
        assert body["cost"] == pytest.approx((HI_TOKENS * 2 + 100 * 8) / 1e6)
        assert counted.headers["x-baton-token-count"] == "exact"
        missing = await http.post("/v1/cost-estimate", json={"model": "nope", "input_tokens": 1})
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "model_not_found"
        negative = await http.post("/v1/cost-estimate", json={"model": "vm", "input_tokens": -1})
        assert negative.status_code == 400
        assert negative.json()["error"]["param"] == "input_tokens"

    await run(test)


@pytest.mark.parametrize(
    ("model", "verdict", "encoding"),
    [("old", "exact", "cl100k_base"), ("free", "estimate", "o200k_base")],
)
async def test_every_counting_route_counts_as_the_first_candidate_with_the_same_headers(
    model: str, verdict: str, encoding: str
) -> None:
    async def test(gateway: Gateway, http: Any) -> None:
        replies = {
            "token-count": await http.post(
                "/v1/token-count", json={"model": model, "messages": HI}
            ),
            "input_tokens": await http.post(
                "/v1/responses/input_tokens", json={"model": model, "input": "hi"}
            ),
            "count_tokens": await http.post(
                "/v1/messages/count_tokens", json={"model": model, "messages": HI}
            ),
        }
        for name, reply in replies.items():
            assert reply.status_code == 200, (name, reply.text)
            assert reply.headers["x-baton-token-count"] == verdict, name
            assert reply.headers["x-baton-token-encoding"] == encoding, name
        assert replies["token-count"].json()["token_count"] == HI_TOKENS
        assert replies["input_tokens"].json()["input_tokens"] == HI_TOKENS
        assert replies["count_tokens"].json()["input_tokens"] == HI_TOKENS
        assert gateway.upstreams["beta"].calls == []  # counted here, no model called

    await run(test)
