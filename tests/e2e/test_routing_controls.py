"""The original proxy's routing controls through a running gateway: model filters seen alike
in `/v1/models` and in routing, and `temperature_zero` applied to what the upstream gets."""

from __future__ import annotations

import trio

from edge.simulator import Complete, always
from tests.e2e.harness import launch


async def test_filters_hide_a_model_from_listing_and_routing_alike() -> None:
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {"up": always(Complete("ok")), "other": always(Complete("from other"))},
                providers={
                    "up": {
                        "models": ["m-large", "m-large-preview", "m-small-preview"],
                        "ignore_models": ["*-preview*"],
                        "allow_models": ["m-large-preview"],
                    },
                    "other": {"models": ["m-small-preview"]},
                },
            )
            async with gateway.http() as http:
                listed = {m["id"] for m in (await http.get("/v1/models")).json()["data"]}
                hi = [{"role": "user", "content": "hi"}]

                async def ask(model: str) -> tuple[int, str | None]:
                    reply = await http.post(
                        "/v1/chat/completions", json={"model": model, "messages": hi}
                    )
                    return reply.status_code, reply.headers.get("x-baton-route")

                direct_ignored = await ask("up/m-small-preview")
                direct_allowed = await ask("up/m-large-preview")
                bare = await ask("m-small-preview")  # listed by other only, after the filter
            assert "up/m-large" in listed and "up/m-large-preview" in listed
            assert "up/m-small-preview" not in listed and "other/m-small-preview" in listed
            assert direct_ignored[0] == 404
            assert direct_allowed == (200, "up/m-large-preview=200")
            assert bare == (200, "other/m-small-preview=200")
            assert [call.json["model"] for call in gateway.upstreams["up"].calls] == [
                "m-large-preview"
            ]
            nursery.cancel_scope.cancel()


async def test_temperature_zero_is_removed_or_set_per_provider() -> None:
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {
                    "remover": always(Complete("a")),
                    "setter": always(Complete("b")),
                    "keeper": always(Complete("c")),
                },
                providers={
                    "remover": {"temperature_zero": "remove"},
                    "setter": {"temperature_zero": 0.7},
                },
            )
            async with gateway.http() as http:
                for name in ("remover", "setter", "keeper"):
                    for temperature in (0, 0.3):
                        body = {
                            "model": f"{name}/m",
                            "messages": [{"role": "user", "content": "hi"}],
                            "temperature": temperature,
                        }
                        reply = await http.post("/v1/chat/completions", json=body)
                        assert reply.status_code == 200, reply.text
            sent = {
                name: [call.json.get("temperature", "absent") for call in sim.calls]
                for name, sim in gateway.upstreams.items()
            }
            assert sent == {
                "remover": ["absent", 0.3],
                "setter": [0.7, 0.3],
                "keeper": [0, 0.3],
            }
            nursery.cancel_scope.cancel()
