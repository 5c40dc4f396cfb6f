"""`POST /v1/embeddings` through a running gateway with the `openai` client: chains and
failover, float and base64, and concurrent small requests batched into one upstream call."""

from __future__ import annotations

import base64
import struct
from typing import Any

import openai
import pytest
import trio

from edge.simulator import Complete, Error, SimRequest, always, sequence
from edge.simulator.embeddings import vector_for
from tests.e2e.harness import in_thread, launch

CHAIN = {"embed": ["alpha/emb", "beta/emb"]}


async def test_one_request_fails_over_and_keeps_its_shape() -> None:
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {"alpha": always(Error.rate_limited(retry_after=30)), "beta": always(Complete())},
                virtual_models=CHAIN,
                embeddings={"batch_window": 0},
            )

            def calls() -> tuple[Any, Any, Any]:
                with gateway.client() as client:
                    raw = client.embeddings.with_raw_response.create(
                        model="embed", input=["hello world", "good bye"], dimensions=4
                    )
                    encoded = client.embeddings.create(
                        model="embed", input="hello world", encoding_format="base64"
                    )
                    return raw, raw.parse(), encoded

            raw, reply, encoded = await in_thread(calls)
            assert raw.headers["x-baton-route"] == "alpha/emb=429,beta/emb=200"
            assert [item.index for item in reply.data] == [0, 1]
            # the SDK asks for base64 and decodes it as float32: equal to float32 precision
            assert reply.data[0].embedding == pytest.approx(vector_for("hello world", 4), abs=1e-6)
            assert reply.data[1].embedding == pytest.approx(vector_for("good bye", 4), abs=1e-6)
            assert reply.usage.prompt_tokens == 4
            # asked for base64 by the caller, base64 it gets: float32, little-endian
            decoded = _floats(encoded.data[0].embedding)
            assert decoded == pytest.approx(vector_for("hello world"), abs=1e-6)
            sent = gateway.upstreams["beta"].calls[0].json
            assert sent == {
                "model": "emb",
                "input": ["hello world", "good bye"],
                "dimensions": 4,
                "encoding_format": "base64",
            }
            nursery.cancel_scope.cancel()


async def test_concurrent_small_requests_share_one_upstream_call() -> None:
    callers = 12
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {"alpha": always(Error(503)), "beta": always(Complete())},
                virtual_models=CHAIN,
                embeddings={"batch_window": 0.3, "max_batch_inputs": 64},
            )
            results: dict[int, Any] = {}

            async def caller(number: int) -> None:
                """The openai client, as a user would call it, many at once."""
                texts = [f"caller {number} text {i}" for i in range(number % 3 + 1)]

                def call() -> Any:
                    with gateway.client() as client:
                        return client.embeddings.with_raw_response.create(
                            model="embed", input=texts
                        )

                results[number] = (texts, await in_thread(call))

            async with trio.open_nursery() as crowd:
                for number in range(callers):
                    crowd.start_soon(caller, number)
            # the batch failed over as one: one call to alpha (503), one to beta
            assert len(gateway.upstreams["alpha"].calls) == 1
            [batched] = gateway.upstreams["beta"].calls
            sent_inputs = batched.json["input"]
            assert len(sent_inputs) == sum(n % 3 + 1 for n in range(callers))
            total_tokens = 0
            for number, (texts, raw) in results.items():
                assert raw.headers["x-baton-route"] == "alpha/emb=503,beta/emb=200"
                reply = raw.parse()  # the SDK asked for base64 and decoded it
                assert [item.index for item in reply.data] == list(range(len(texts)))
                got = [item.embedding for item in reply.data]
                assert got == [pytest.approx(vector_for(t), abs=1e-6) for t in texts], number
                total_tokens += reply.usage.prompt_tokens
            assert total_tokens == sum(len(text.split()) for text in sent_inputs)
            async with gateway.http() as http:
                stats = (await http.get("/stats")).json()
            assert sum(1 for call in stats["recent"] if call["endpoint"] == "embeddings") == callers
            nursery.cancel_scope.cancel()


def _floats(embedding: Any) -> list[float]:
    if isinstance(embedding, str):
        raw = base64.b64decode(embedding)
        return list(struct.unpack(f"<{len(raw) // 4}f", raw))
    return list(embedding)


async def test_a_batch_refused_for_one_callers_input_answers_only_that_caller() -> None:
    def picky(request: SimRequest) -> Any:
        inputs = request.json["input"]
        if any("poison" in str(item) for item in ([inputs] if isinstance(inputs, str) else inputs)):
            return Error(400)
        return Complete()

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {"alpha": picky},
                virtual_models={"embed": ["alpha/emb"]},
                embeddings={"batch_window": 0.3},
            )
            replies: dict[str, Any] = {}

            async def caller(text: str) -> None:
                async with gateway.http() as http:
                    replies[text] = await http.post(
                        "/v1/embeddings", json={"model": "embed", "input": text}
                    )

            async with trio.open_nursery() as crowd:
                for text in ("fine one", "poison", "fine two"):
                    crowd.start_soon(caller, text)
            assert replies["poison"].status_code == 400, replies["poison"].text
            assert replies["poison"].json()["error"]["type"] == "invalid_request_error"
            for text in ("fine one", "fine two"):
                assert replies[text].status_code == 200, replies[text].text
                assert replies[text].json()["data"][0]["embedding"] == vector_for(text)
            nursery.cancel_scope.cancel()


async def test_embedding_errors_and_an_anthropic_candidate_is_passed_over() -> None:
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {"claude": always(Complete()), "beta": sequence(Error(500), then=Complete())},
                virtual_models={"embed": ["claude/x", "beta/emb"]},
                providers={"claude": {"kind": "anthropic"}},
            )

            def calls() -> tuple[Exception, Exception]:
                with gateway.client() as client:
                    with pytest.raises(openai.BadRequestError) as bad:
                        client.embeddings.create(model="embed", input=[])
                    with pytest.raises(openai.NotFoundError) as missing:
                        client.embeddings.create(model="nothing", input="x")
                    return bad.value, missing.value

            bad, missing = await in_thread(calls)
            async with gateway.http() as http:
                reply = await http.post("/v1/embeddings", json={"model": "embed", "input": "x"})
            assert reply.status_code == 502
            assert "claude/x=not_found" in reply.headers["x-baton-route"]
            assert gateway.upstreams["claude"].calls == []  # never sent: no embeddings there
            assert bad.body["param"] == "input" and missing.body["code"] == "model_not_found"
            nursery.cancel_scope.cancel()
