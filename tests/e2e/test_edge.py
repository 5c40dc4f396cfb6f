"""The edge: auth, bad input, model listing, routing forms, and pass-through of the request."""

import httpx2
import openai
import pytest
import trio

from edge.simulator import Complete, always
from tests.e2e.harness import CLIENT_KEY, Gateway, launch


async def gateway_with(nursery: trio.Nursery, **config: object) -> Gateway:
    return await launch(
        nursery,
        {"alpha": always(Complete("from alpha")), "beta": always(Complete("from beta"))},
        virtual_models={"coding-elite": ["alpha/m-large", "beta/m-large"]},
        providers={
            "alpha": {"models": ["m-large", "m-small", "shared-model"], "priority": 9},
            "beta": {"models": ["m-large", "shared-model"], "priority": 5},
        },
        **config,
    )


def assert_envelope(response: httpx2.Response, status: int, code: str | None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"] and error["type"]
    assert error["code"] == code
    return error


CHAT = {"model": "coding-elite", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"authorization": "Bearer wrong"}, 401),
        ({"authorization": "Basic x"}, 401),
        ({"x-api-key": "wrong"}, 401),
        ({"x-api-key": CLIENT_KEY}, 200),
        ({"authorization": f"Bearer {CLIENT_KEY}"}, 200),
    ],
    ids=["none", "wrong-bearer", "basic", "wrong-x-api-key", "x-api-key", "bearer"],
)
async def test_client_auth(headers: dict[str, str], status: int) -> None:
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            gateway = await gateway_with(nursery)
            async with httpx2.AsyncClient(base_url=gateway.url) as http:
                response = await http.post("/v1/chat/completions", json=CHAT, headers=headers)
                if status == 401:
                    error = assert_envelope(response, 401, "invalid_api_key")
                    assert "wrong" not in error["message"]
                else:
                    assert response.status_code == 200
                assert (await http.get("/health")).status_code == 200  # never needs a key
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        (b"{not json", 400, "invalid_request", None),
        (b"", 400, "invalid_request", None),
        (b"\xff\xfe", 400, "invalid_request", None),
        (b"[1,2]", 400, "invalid_request", None),
        (
            b'{"messages": [{"role": "user", "content": "x"}]}',
            400,
            "missing_required_parameter",
            "model",
        ),
        (b'{"model": "coding-elite"}', 400, "missing_required_parameter", "messages"),
        (b'{"model": "coding-elite", "messages": "hi"}', 400, "invalid_type", "messages"),
        (
            b'{"model": "coding-elite", "messages": [{}], "stream": 1}',
            400,
            "invalid_type",
            "stream",
        ),
        (b'{"model": "no-such-model", "messages": [{}]}', 404, "model_not_found", "model"),
        (b'{"model": "alpha/unlisted", "messages": [{}]}', 404, "model_not_found", "model"),
        (b'{"model": "nobody/m-large", "messages": [{}]}', 404, "model_not_found", "model"),
        (b"[" * 50_000 + b"]" * 50_000, 400, "invalid_request", None),
    ],
    ids=[
        "malformed",
        "empty",
        "bad-utf8",
        "not-object",
        "no-model",
        "no-messages",
        "messages-type",
        "stream-type",
        "unknown-model",
        "unlisted",
        "unknown-provider",
        "deep-nesting",
    ],
)
async def test_bad_requests_get_clear_envelopes(
    body: bytes, status: int, code: str, param: str | None
) -> None:
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            gateway = await gateway_with(nursery)
            async with gateway.http() as http:
                response = await http.post(
                    "/v1/chat/completions",
                    content=body,
                    headers={"content-type": "application/json"},
                )
                assert assert_envelope(response, status, code)["param"] == param
                ok = await http.post("/v1/chat/completions", json=CHAT)  # still serving
                assert ok.status_code == 200
            assert all(sim.calls == [] or len(sim.calls) == 1 for sim in gateway.upstreams.values())
            nursery.cancel_scope.cancel()


async def test_a_body_over_the_limit_is_413() -> None:
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            gateway = await gateway_with(nursery, server={"max_body_bytes": 4096})
            async with gateway.http() as http:
                big = {**CHAT, "messages": [{"role": "user", "content": "x" * 10_000}]}
                response = await http.post("/v1/chat/completions", json=big)
                assert "4096" in assert_envelope(response, 413, "request_too_large")["message"]
                assert (await http.post("/v1/chat/completions", json=CHAT)).status_code == 200
            assert gateway.upstreams["alpha"].calls[0].json["messages"] == CHAT["messages"]
            nursery.cancel_scope.cancel()


async def test_unknown_routes_and_methods_use_the_envelope() -> None:
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            gateway = await gateway_with(nursery)
            async with gateway.http() as http:
                assert_envelope(await http.get("/v1/nothing-here"), 404, "not_found")
                assert_envelope(await http.get("/v1/chat/completions"), 405, "method_not_allowed")
            nursery.cancel_scope.cancel()


async def test_models_list_and_lookup() -> None:
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            gateway = await gateway_with(nursery)
            client = gateway.client()
            with client:
                from tests.e2e.harness import in_thread

                models = await in_thread(lambda: [m.id for m in client.models.list()])
                assert models == [
                    "coding-elite",
                    "alpha/m-large",
                    "alpha/m-small",
                    "alpha/shared-model",
                    "beta/m-large",
                    "beta/shared-model",
                ]
                model = await in_thread(client.models.retrieve, "alpha/m-small")
                assert (model.id, model.owned_by, model.object) == (
                    "alpha/m-small",
                    "alpha",
                    "model",
                )
                assert (await in_thread(client.models.retrieve, "coding-elite")).owned_by == "baton"
                with pytest.raises(openai.NotFoundError):
                    await in_thread(client.models.retrieve, "missing")
            nursery.cancel_scope.cancel()


async def test_request_fields_pass_through_and_only_the_model_is_rewritten() -> None:
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            gateway = await gateway_with(nursery)
            raw = await gateway.chat(
                "coding-elite",
                temperature=0.25,
                max_tokens=7,
                extra_body={"vendor_knob": {"deep": [1, 2]}},
            )
            sent = gateway.upstreams["alpha"].calls[0]
            assert sent.json["model"] == "m-large"
            assert sent.json["temperature"] == 0.25 and sent.json["max_tokens"] == 7
            assert sent.json["vendor_knob"] == {"deep": [1, 2]}
            assert sent.api_key == "alpha-key"
            assert CLIENT_KEY not in str(sent.headers)  # the client's key never goes upstream
            assert raw.headers["x-baton-provider"] == "alpha"
            nursery.cancel_scope.cancel()


async def test_direct_and_bare_model_names() -> None:
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            gateway = await gateway_with(nursery)
            raw = await gateway.chat("beta/m-large")
            assert raw.headers["x-baton-route"] == "beta/m-large=200"
            raw = await gateway.chat("shared-model")  # listed by both: beta has priority 5
            assert raw.headers["x-baton-route"] == "beta/shared-model=200"
            nursery.cancel_scope.cancel()
