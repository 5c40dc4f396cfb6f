"""The Responses API through a running gateway to Chat-only upstreams, with the openai client."""

import json

import openai
import pytest
import trio

from edge.simulator import Complete, Error, ToolCall, always, sequence
from tests.e2e.harness import in_thread, launch
from tests.schema import validate

CHAIN = {"vm": ["alpha/m", "beta/m"]}


async def stream_events(client: openai.OpenAI, **fields: object) -> list:
    """Every event of one streamed Responses call, through the openai client."""

    def run() -> list:
        with client.responses.create(stream=True, **fields) as stream:
            return list(stream)

    return await in_thread(run)


TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


async def test_create_plain_and_streamed() -> None:
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {"alpha": always(Complete("Hi from alpha", reasoning="thinking"))},
                virtual_models={"vm": ["alpha/m"]},
            )
            with gateway.client() as client:
                raw = await in_thread(
                    client.responses.with_raw_response.create,
                    model="vm",
                    input="hello",
                    instructions="be brief",
                    store=False,
                )
                response = raw.parse()
                assert response.output_text == "Hi from alpha"
                assert response.status == "completed"
                assert response.id.startswith("resp_") and response.model == "vm"
                assert raw.headers["x-baton-provider"] == "alpha"
                validate(json.loads(raw.text), "Response")
                sent = gateway.upstreams["alpha"].calls[0].json
                assert sent["messages"][0] == {"role": "system", "content": "be brief"}
                assert sent["model"] == "m"

                events = await stream_events(client, model="vm", input="hello", store=False)
                types = [event.type for event in events]
                assert types[0] == "response.created" and types[-1] == "response.completed"
                assert [e.sequence_number for e in events] == list(range(len(events)))
                final = events[-1].response
                assert final.output_text == "Hi from alpha"
                assert final.id == events[0].response.id
                for event in events:
                    validate(
                        event.model_dump(mode="json", exclude_none=False, exclude_unset=True),
                        "ResponseStreamEvent",
                    )
            nursery.cancel_scope.cancel()


async def test_failover_then_text_and_a_tool_call_reach_get_final_response() -> None:
    reply = Complete(
        "Checking.", tool_calls=(ToolCall("call_1", "get_weather", '{"city":"Paris"}'),)
    )
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {"alpha": always(Error.rate_limited(retry_after=30)), "beta": always(reply)},
                virtual_models=CHAIN,
            )
            with gateway.client() as client:

                def run() -> object:
                    with client.responses.stream(
                        model="vm", input="weather?", tools=[TOOL], store=False
                    ) as stream:
                        return stream.get_final_response()

                final = await in_thread(run)
                assert final.output_text == "Checking."
                calls = [item for item in final.output if item.type == "function_call"]
                assert [(c.call_id, c.name, c.arguments) for c in calls] == [
                    ("call_1", "get_weather", '{"city":"Paris"}')
                ]
                assert len(gateway.upstreams["alpha"].calls) == 1
                assert (
                    gateway.upstreams["beta"].calls[0].json["tools"][0]["function"]["name"]
                    == "get_weather"
                )
            nursery.cancel_scope.cancel()


async def test_a_tool_round_trip_with_store_false_replaying_items() -> None:
    first = Complete("", tool_calls=(ToolCall("call_9", "get_weather", '{"city":"Oslo"}'),))
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {"alpha": sequence(first, Complete("It is sunny."))},
                virtual_models={"vm": ["alpha/m"]},
            )
            with gateway.client() as client:
                turn1 = await in_thread(
                    client.responses.create,
                    model="vm",
                    input=[{"role": "user", "content": "weather in Oslo?"}],
                    tools=[TOOL],
                    store=False,
                )
                call = next(item for item in turn1.output if item.type == "function_call")
                history = [
                    {"role": "user", "content": "weather in Oslo?"},
                    call.model_dump(exclude_none=True),
                    {
                        "type": "function_call_output",
                        "call_id": call.call_id,
                        "output": "sunny, 20C",
                    },
                ]
                turn2 = await in_thread(
                    client.responses.create, model="vm", input=history, tools=[TOOL], store=False
                )
                assert turn2.output_text == "It is sunny."
            messages = gateway.upstreams["alpha"].calls[1].json["messages"]
            assert messages[1]["tool_calls"][0]["id"] == "call_9"
            assert messages[2] == {
                "role": "tool",
                "tool_call_id": "call_9",
                "content": "sunny, 20C",
            }
            nursery.cancel_scope.cancel()


async def test_every_candidate_failing_is_an_http_error_before_the_stream() -> None:
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {"alpha": always(Error(500)), "beta": always(Error.rate_limited(retry_after=9))},
                virtual_models=CHAIN,
            )
            with gateway.client() as client:
                with pytest.raises(openai.APIStatusError) as caught:
                    await in_thread(
                        client.responses.create, model="vm", input="x", stream=True, store=False
                    )
                assert caught.value.status_code == 502
            nursery.cancel_scope.cancel()


async def test_a_mid_stream_failure_is_response_failed() -> None:
    from edge.simulator import Cut

    long = Complete(chunks=("one ", "two ", "three ", "four"))
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {"alpha": always(Cut(after_chunks=3, reply=long))},
                virtual_models={"vm": ["alpha/m"]},
            )
            with gateway.client() as client:
                events = await stream_events(client, model="vm", input="x", store=False)
                assert events[-1].type == "response.failed"
                assert events[-1].response.error.code == "server_error"
                assert (
                    "mid-reply" in events[-1].response.error.message
                    or "before it finished" in events[-1].response.error.message
                )
                done = [e for e in events if e.type == "response.output_item.done"]
                assert done and done[-1].item.status == "incomplete"
            nursery.cancel_scope.cancel()


async def test_a_slow_upstream_gets_in_progress_keepalives() -> None:
    slow = Complete("late but here", delay=1.5)
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {"alpha": always(slow)},
                virtual_models={"vm": ["alpha/m"]},
                timeouts={"keepalive": 0.3, "first_byte": 5},
            )
            with gateway.client() as client:
                events = await stream_events(client, model="vm", input="x", store=False)
                types = [e.type for e in events]
                assert types[:2] == ["response.created", "response.in_progress"]
                assert types.count("response.in_progress") >= 3
                assert types[-1] == "response.completed"
                assert events[-1].response.output_text == "late but here"
            nursery.cancel_scope.cancel()
