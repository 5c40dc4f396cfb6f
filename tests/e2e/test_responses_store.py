"""Stored responses: previous_response_id, item_reference, GET/DELETE/input_items, restarts."""

import json
from pathlib import Path

import openai
import pytest
import trio

from edge.simulator import Complete, always, sequence
from tests.e2e.harness import gateway_config, in_thread, launch, start_gateway, start_upstreams
from tests.schema import validate

VM = {"vm": ["alpha/m"]}


async def test_previous_response_id_follow_up_and_the_stored_routes() -> None:
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {"alpha": sequence(Complete("Paris."), Complete("About 2.1 million."))},
                virtual_models=VM,
            )
            with gateway.client() as client:
                first = await in_thread(
                    client.responses.create,
                    model="vm",
                    input="Capital of France?",
                    instructions="terse",
                )
                second = await in_thread(
                    client.responses.create,
                    model="vm",
                    input="Its population?",
                    previous_response_id=first.id,
                )
                assert second.output_text == "About 2.1 million."
                messages = gateway.upstreams["alpha"].calls[1].json["messages"]
                assert [(m["role"], m.get("content")) for m in messages] == [
                    ("user", "Capital of France?"),
                    ("assistant", "Paris."),
                    ("user", "Its population?"),
                ]

                fetched = await in_thread(client.responses.retrieve, first.id)
                assert fetched.id == first.id and fetched.output_text == "Paris."
                validate(fetched.model_dump(mode="json", exclude_unset=True), "Response")
                items = await in_thread(
                    lambda: list(client.responses.input_items.list(second.id, order="asc"))
                )
                assert [item.type for item in items] == ["message", "message", "message"]
                assert items[-1].content[0].text == "Its population?"

                deleted = await in_thread(client.responses.delete, first.id)
                assert deleted is None or getattr(deleted, "deleted", True)
                with pytest.raises(openai.NotFoundError) as caught:
                    await in_thread(client.responses.retrieve, first.id)
                assert caught.value.body == {
                    "message": f"Response with id '{first.id}' not found.",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
                with pytest.raises(openai.BadRequestError) as caught:
                    await in_thread(
                        client.responses.create,
                        model="vm",
                        input="x",
                        previous_response_id="resp_missing",
                    )
                assert caught.value.param == "previous_response_id"
            nursery.cancel_scope.cancel()


async def test_store_false_stores_nothing_and_item_references_resolve() -> None:
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {"alpha": sequence(Complete("one"), Complete("two"), Complete("three"))},
                virtual_models=VM,
            )
            with gateway.client() as client:
                unstored = await in_thread(
                    client.responses.create, model="vm", input="a", store=False
                )
                with pytest.raises(openai.NotFoundError):
                    await in_thread(client.responses.retrieve, unstored.id)
                stored = await in_thread(client.responses.create, model="vm", input="b")
                message_id = stored.output[0].id
                await in_thread(
                    client.responses.create,
                    model="vm",
                    input=[
                        {"type": "item_reference", "id": message_id},
                        {"role": "user", "content": "and then?"},
                    ],
                    store=False,
                )
            messages = gateway.upstreams["alpha"].calls[2].json["messages"]
            assert messages[0] == {"role": "assistant", "content": "two"}
            nursery.cancel_scope.cancel()


async def test_stored_responses_survive_a_restart(tmp_path: Path) -> None:
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            upstreams = await start_upstreams(nursery, alpha=always(Complete("remembered")))
            document = gateway_config(upstreams, virtual_models=VM)
            async with trio.open_nursery() as first_run:
                gateway = await start_gateway(first_run, document, upstreams, tmp_path)
                with gateway.client() as client:

                    def streamed() -> str:
                        with client.responses.create(
                            model="vm", input="keep this", stream=True
                        ) as stream:
                            return [e for e in stream][-1].response.id

                    response_id = await in_thread(streamed)
                first_run.cancel_scope.cancel()
            assert (tmp_path / "responses.sqlite3").exists()
            gateway = await start_gateway(nursery, document, upstreams, tmp_path)
            with gateway.client() as client:
                again = await in_thread(client.responses.retrieve, response_id)
                assert again.output_text == "remembered" and again.status == "completed"
                follow = await in_thread(
                    client.responses.create,
                    model="vm",
                    input="more",
                    previous_response_id=response_id,
                    store=False,
                )
                assert follow.output_text == "remembered"
            sent = upstreams["alpha"].calls[-1].json["messages"]
            assert json.dumps(sent).count("keep this") == 1
            nursery.cancel_scope.cancel()
