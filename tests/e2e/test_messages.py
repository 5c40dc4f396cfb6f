"""The Anthropic Messages API through baton, with the official `anthropic` client, over chains
of upstreams that speak only Chat Completions."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest
import trio

from edge.simulator import Complete, Error, Garbage, SimRequest, ToolCall, always
from tests.e2e.harness import in_thread, launch

CHAIN = {"vm": ["alpha/m", "beta/m"]}
ALIASES = {"claude-*haiku*": "fast", "claude-*": "vm"}


async def start(nursery: trio.Nursery, alpha: Any, beta: Any, **options: Any) -> Any:
    return await launch(
        nursery,
        {"alpha": alpha, "beta": beta},
        virtual_models={**CHAIN, "fast": ["beta/m2"]},
        **options,
    )


async def test_create_plain_and_streamed_after_a_rate_limited_first_candidate() -> None:
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            gateway = await start(
                nursery,
                always(Error.rate_limited(retry_after=30)),
                always(
                    Complete("Hello from beta", usage={"prompt_tokens": 12, "completion_tokens": 3})
                ),
            )

            def calls() -> tuple[Any, Any, list[Any], Any]:
                with gateway.anthropic() as client:
                    raw = client.messages.with_raw_response.create(
                        model="vm",
                        max_tokens=100,
                        system="be brief",
                        messages=[{"role": "user", "content": "hi"}],
                    )
                    plain = raw.parse()
                    with client.messages.stream(
                        model="vm", max_tokens=100, messages=[{"role": "user", "content": "again"}]
                    ) as stream:
                        events = list(stream)
                        final = stream.get_final_message()
                    return raw, plain, events, final

            raw, plain, events, final = await in_thread(calls)
            assert isinstance(plain, anthropic.types.Message)
            assert plain.content[0].type == "text" and plain.content[0].text == "Hello from beta"
            assert plain.stop_reason == "end_turn" and plain.model == "vm"
            assert plain.usage.input_tokens == 12 and plain.usage.output_tokens == 3
            assert plain.id.startswith("msg_")
            assert raw.headers["x-baton-provider"] == "beta"
            assert raw.headers["x-baton-route"] == "alpha/m=429,beta/m=200"
            assert final.content[0].text == "Hello from beta"
            assert final.stop_reason == "end_turn"
            types = [event.type for event in events]
            assert types[0] == "message_start" and types[-1] == "message_stop"
            assert "content_block_delta" in types and "message_delta" in types
            sent = gateway.upstreams["beta"].calls[0].json
            assert sent["messages"][0] == {"role": "system", "content": "be brief"}
            assert sent["max_tokens"] == 100 and sent["model"] == "m"
            nursery.cancel_scope.cancel()


def _weather_then_answer(request: SimRequest) -> Complete:
    """A tool call first; once the history holds its result, an answer quoting it."""
    results = [m for m in request.json["messages"] if m.get("role") == "tool"]
    if not results:
        return Complete(
            "Let me look.",
            tool_calls=(
                ToolCall("call_a", "get_weather", '{"city":"Paris"}'),
                ToolCall("call_b", "get_weather", '{"city":"Oslo"}'),
            ),
        )
    return Complete("It is " + " and ".join(str(m["content"]) for m in results))


@pytest.mark.parametrize("streamed", [False, True])
async def test_a_two_turn_tool_round_trip(streamed: bool) -> None:
    tool = {
        "name": "get_weather",
        "description": "The weather in a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            gateway = await start(nursery, _weather_then_answer, _weather_then_answer)

            def turn(client: anthropic.Anthropic, messages: list[Any]) -> Any:
                fields = dict(model="vm", max_tokens=200, tools=[tool], messages=messages)
                if not streamed:
                    return client.messages.create(**fields)
                with client.messages.stream(**fields) as stream:
                    return stream.get_final_message()

            def conversation() -> tuple[Any, Any]:
                with gateway.anthropic() as client:
                    history: list[Any] = [{"role": "user", "content": "weather?"}]
                    first = turn(client, history)
                    uses = [block for block in first.content if block.type == "tool_use"]
                    history.append({"role": "assistant", "content": first.content})
                    history.append(
                        {
                            "role": "user",
                            "content": [
                                {"type": "tool_result", "tool_use_id": use.id, "content": text}
                                for use, text in zip(uses, ["sunny", "snowy"], strict=True)
                            ],
                        }
                    )
                    return first, turn(client, history)

            first, second = await in_thread(conversation)
            assert first.stop_reason == "tool_use"
            assert [block.type for block in first.content] == ["text", "tool_use", "tool_use"]
            uses = first.content[1:]
            assert [use.id for use in uses] == ["call_a", "call_b"]  # ids kept both ways
            assert [use.input for use in uses] == [{"city": "Paris"}, {"city": "Oslo"}]
            assert second.content[0].text == "It is sunny and snowy"
            sent = gateway.upstreams["alpha"].calls[-1].json
            assistant = sent["messages"][1]
            assert [call["id"] for call in assistant["tool_calls"]] == ["call_a", "call_b"]
            assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {
                "city": "Paris"
            }
            assert [m["tool_call_id"] for m in sent["messages"][2:]] == ["call_a", "call_b"]
            assert sent["tools"][0]["function"]["parameters"] == tool["input_schema"]
            nursery.cancel_scope.cancel()


async def test_thinking_arrives_as_thinking_blocks() -> None:
    reply = Complete("The answer is 4.", reasoning="2 and 2 make 4")
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            gateway = await start(nursery, always(reply), always(reply))

            def calls() -> tuple[Any, Any]:
                fields: dict[str, Any] = dict(
                    model="vm",
                    max_tokens=20000,
                    thinking={"type": "enabled", "budget_tokens": 10000},
                    messages=[{"role": "user", "content": "2+2?"}],
                )
                with gateway.anthropic() as client:
                    plain = client.messages.create(**fields)
                    with client.messages.stream(**fields) as stream:
                        return plain, stream.get_final_message()

            plain, streamed = await in_thread(calls)
            for message in (plain, streamed):
                assert [block.type for block in message.content] == ["thinking", "text"]
                assert message.content[0].thinking == "2 and 2 make 4"
                assert message.content[1].text == "The answer is 4."
            assert gateway.upstreams["alpha"].calls[0].json["reasoning_effort"] == "medium"
            nursery.cancel_scope.cancel()


async def test_model_aliases_route_claude_names_and_count_tokens_says_how_it_counted() -> None:
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            gateway = await start(
                nursery,
                always(Complete("from alpha")),
                always(Complete("from beta")),
                model_aliases=ALIASES,
                providers={"alpha": {"models": ["m", "gpt-4o"]}},
            )

            def calls() -> tuple[Any, Any, Any, Any, Any]:
                with gateway.anthropic() as client:
                    hi = [{"role": "user", "content": "hello there"}]
                    main = client.messages.with_raw_response.create(
                        model="claude-sonnet-4-5", max_tokens=10, messages=hi
                    )
                    small = client.messages.with_raw_response.create(
                        model="claude-haiku-4-5-20251001", max_tokens=10, messages=hi
                    )
                    counted = client.messages.with_raw_response.count_tokens(
                        model="claude-sonnet-4-5", messages=hi
                    )
                    listed = client.models.list()
                    with pytest.raises(anthropic.NotFoundError) as missing:
                        client.messages.count_tokens(model="gpt-nothing", messages=hi)
                    return main, small, counted, listed, missing.value

            main, small, counted, listed, missing = await in_thread(calls)
            assert main.headers["x-baton-provider"] == "alpha"
            ids = [model.id for model in listed.data]
            assert "vm" in ids and "claude-*" not in ids  # a wildcard is no model id
            assert all(model.type == "model" and model.display_name for model in listed.data)
            assert main.parse().model == "claude-sonnet-4-5"  # named as the client named it
            assert small.headers["x-baton-route"] == "beta/m2=200"
            tokens = counted.parse().input_tokens
            assert 5 <= tokens <= 20
            # the first candidate of claude-sonnet-4-5 (via vm) is alpha/m: no tokenizer known
            assert counted.headers["x-baton-token-count"] == "estimate"
            assert counted.headers["x-baton-token-encoding"] == "o200k_base"
            assert missing.body["error"]["type"] == "not_found_error"
            nursery.cancel_scope.cancel()


async def test_count_tokens_is_exact_for_a_model_baton_has_the_tokenizer_of() -> None:
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {"up": always(Complete("x"))},
                virtual_models={"gpt": ["up/gpt-4o"]},
                model_aliases={"claude-*": "gpt"},
            )
            async with gateway.http() as http:
                body = {"model": "claude-x", "messages": [{"role": "user", "content": "hi"}]}
                reply = await http.post("/v1/messages/count_tokens?beta=true", json=body)
            assert reply.status_code == 200, reply.text
            assert reply.headers["x-baton-token-count"] == "exact"
            # gpt-4o: 3 per message + "user" (1) + "hi" (1) + 3 for the reply primer
            assert reply.json() == {"input_tokens": 8}
            nursery.cancel_scope.cancel()


async def test_errors_are_anthropic_envelopes_with_anthropic_statuses() -> None:
    overloaded = Error(
        529, body={"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    )
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            gateway = await start(nursery, always(overloaded), always(overloaded))
            async with gateway.http() as http:
                hi = {
                    "model": "vm",
                    "max_tokens": 5,
                    "messages": [{"role": "user", "content": "x"}],
                }
                cases = {
                    "no max_tokens": await http.post(
                        "/v1/messages", json={"model": "vm", "messages": hi["messages"]}
                    ),
                    "not json": await http.post("/v1/messages", content=b"{nope"),
                    "unknown model": await http.post("/v1/messages", json={**hi, "model": "zz"}),
                    "bad key": await http.post(
                        "/v1/messages", json=hi, headers={"authorization": "", "x-api-key": "wrong"}
                    ),
                    "overloaded": await http.post("/v1/messages", json=hi),
                    "overloaded stream": await http.post(
                        "/v1/messages", json={**hi, "stream": True}
                    ),
                    "no route": await http.post("/v1/messages/nothing", json=hi),
                }
            expected = {
                "no max_tokens": (400, "invalid_request_error"),
                "not json": (400, "invalid_request_error"),
                "unknown model": (404, "not_found_error"),
                "bad key": (401, "authentication_error"),
                "overloaded": (529, "overloaded_error"),
                "overloaded stream": (529, "overloaded_error"),
                "no route": (404, "not_found_error"),
            }
            for name, reply in cases.items():
                body = reply.json()
                assert (reply.status_code, body["error"]["type"]) == expected[name], (name, body)
                assert body["type"] == "error" and body["error"]["message"], name
            assert "max_tokens" in cases["no max_tokens"].json()["error"]["message"]

            def sdk() -> Exception:
                with gateway.anthropic() as client:
                    with pytest.raises(anthropic.APIStatusError) as raised:
                        client.messages.create(**hi)
                    return raised.value

            error = await in_thread(sdk)
            assert error.status_code == 529
            nursery.cancel_scope.cancel()


async def test_a_tool_call_that_never_gets_a_name_ends_the_stream_with_an_error_event() -> None:
    chunks = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Let me"}}]},
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [{"index": 0, "id": "c1", "function": {"arguments": "{}"}}]
                    },
                }
            ]
        },
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    ]
    body = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks)
    nameless = Garbage(body + b"data: [DONE]\n\n", content_type="text/event-stream")
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            gateway = await start(nursery, always(nameless), always(nameless))
            async with gateway.http() as http:
                hi = [{"role": "user", "content": "x"}]
                reply = await http.post(
                    "/v1/messages",
                    json={"model": "vm", "max_tokens": 9, "stream": True, "messages": hi},
                )
            assert reply.status_code == 200
            assert "event: error" in reply.text and "message_stop" not in reply.text
            assert "Let me" in reply.text  # what came before it was kept
            nursery.cancel_scope.cancel()
