"""`kind: anthropic` upstreams: Messages clients passed through untouched, Chat and Responses
clients translated both ways, and Anthropic's stream kept whole (keep-alives, cuts)."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest
import trio

from edge.simulator import Complete, Cut, Error, Garbage, always
from tests.e2e.anthropic_fakes import SIGNATURE, UPSTREAM_ID, events, native_reply
from tests.e2e.harness import in_thread, launch, text_of

CLAUDE = {"claude": {"kind": "anthropic"}}
TOOL = {"id": "toolu_01", "name": "get_weather", "input": {"city": "Paris", "unit": "celsius"}}


async def test_messages_pass_through_after_a_failover_with_signatures_and_betas() -> None:
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {
                    "alpha": always(Error.rate_limited(retry_after=30)),
                    "claude": native_reply("Paris is sunny.", thinking="look it up", tool=TOOL),
                },
                virtual_models={"vm": ["alpha/m", "claude/claude-up"]},
                providers=CLAUDE,
            )
            fields: dict[str, Any] = dict(
                model="vm",
                max_tokens=2000,
                thinking={"type": "enabled", "budget_tokens": 1024},
                system=[
                    {"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}
                ],
                messages=[{"role": "user", "content": "weather in Paris?"}],
                extra_headers={
                    "anthropic-beta": "interleaved-thinking-2025-05-14",
                    "anthropic-version": "2023-06-01",
                },
            )

            def calls() -> tuple[Any, Any, list[Any]]:
                with gateway.anthropic() as client:
                    raw = client.messages.with_raw_response.create(**fields)
                    with client.messages.stream(**fields) as stream:
                        streamed = list(stream)
                        return raw, stream.get_final_message(), streamed

            raw, final, streamed = await in_thread(calls)
            plain = raw.parse()
            assert plain.id == UPSTREAM_ID  # the upstream's own Message, untouched
            assert raw.headers["x-baton-route"] == "alpha/m=429,claude/claude-up=200"
            for message in (plain, final):
                assert [b.type for b in message.content] == ["thinking", "text", "tool_use"]
                assert message.content[0].signature == SIGNATURE
                assert message.content[2].input == TOOL["input"]
                assert message.stop_reason == "tool_use"
                assert message.usage.cache_read_input_tokens == 4
            assert [e.type for e in streamed].count("message_start") == 1
            sent = gateway.upstreams["claude"].calls
            assert all(call.path.endswith("/v1/messages") for call in sent)
            body = sent[0].json
            assert body["system"] == fields["system"]  # cache_control intact
            assert body["thinking"] == fields["thinking"] and body["model"] == "claude-up"
            headers = sent[0].headers
            assert headers["x-api-key"] == "claude-key"  # the provider's key, not the client's
            assert "authorization" not in headers
            assert headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"
            assert headers["anthropic-version"] == "2023-06-01"  # the client's, passed on
            assert sent[1].json["stream"] is True
            nursery.cancel_scope.cancel()


async def test_chat_and_responses_clients_are_translated_to_and_from_messages() -> None:
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {"claude": native_reply("Paris is sunny.", thinking="look it up", tool=TOOL)},
                virtual_models={"vm": ["claude/claude-up"]},
                providers=CLAUDE,
            )
            with gateway.client() as client:
                chat = await in_thread(
                    client.chat.completions.create,
                    model="vm",
                    messages=[
                        {"role": "system", "content": "be brief"},
                        {"role": "user", "content": "weather?"},
                    ],
                )
                _, chunks = await gateway.stream("vm", stream_options={"include_usage": True})
                response = await in_thread(client.responses.create, model="vm", input="hello")
            choice = chat.choices[0]
            assert choice.message.content == "Paris is sunny."
            assert choice.finish_reason == "tool_calls"
            call = choice.message.tool_calls[0]
            assert call.id == "toolu_01" and json.loads(call.function.arguments) == TOOL["input"]
            assert chat.usage.prompt_tokens == 25 and chat.usage.completion_tokens == 9
            assert text_of(chunks) == "Paris is sunny."
            assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 9
            pieces = [
                tc.function.arguments
                for c in chunks
                if c.choices and c.choices[0].delta.tool_calls
                for tc in c.choices[0].delta.tool_calls
            ]
            assert json.loads("".join(p or "" for p in pieces)) == TOOL["input"]
            assert response.output_text == "Paris is sunny."
            sent = gateway.upstreams["claude"].calls[0]
            assert sent.path.endswith("/v1/messages")
            assert sent.json["system"] == "be brief"
            assert sent.json["messages"] == [{"role": "user", "content": "weather?"}]
            assert isinstance(sent.json["max_tokens"], int)
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize("native", [False, True])
async def test_a_slow_start_gets_pings_after_one_message_start(native: bool) -> None:
    slow_native = Garbage(events("late but whole"), content_type="text/event-stream", delay=1.2)
    slow_chat = Complete("late but whole", delay=1.2)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {"up": always(slow_native if native else slow_chat)},
                virtual_models={"vm": ["up/claude-up"]},
                providers={"up": {"kind": "anthropic"}} if native else {},
                timeouts={"keepalive": 0.3, "first_byte": 5},
            )
            async with gateway.http() as http:
                body = {
                    "model": "vm",
                    "max_tokens": 10,
                    "stream": True,
                    "messages": [{"role": "user", "content": "hi"}],
                }
                reply = await http.post("/v1/messages", json=body)
            lines = [line for line in reply.text.splitlines() if line.startswith("event: ")]
            kinds = [line.removeprefix("event: ") for line in lines]
            assert kinds[0] == "message_start" and kinds.count("message_start") == 1
            assert kinds[1] == "ping" and kinds[-1] == "message_stop"

            def sdk() -> Any:
                with gateway.anthropic() as client:
                    with client.messages.stream(
                        model="vm", max_tokens=10, messages=body["messages"]
                    ) as stream:
                        return stream.get_final_message()

            final = await in_thread(sdk)
            assert final.content[0].text == "late but whole"
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize("native", [False, True])
async def test_a_stream_cut_after_output_ends_with_an_error_event(native: bool) -> None:
    cut_native = Garbage(events("half of it", cut=True), content_type="text/event-stream")
    cut_chat = Cut(after_chunks=3, reply=Complete("one two three four five six"))
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {"up": always(cut_native if native else cut_chat)},
                virtual_models={"vm": ["up/claude-up"]},
                providers={"up": {"kind": "anthropic"}} if native else {},
            )

            def sdk() -> tuple[list[str], Exception]:
                seen: list[str] = []
                with gateway.anthropic() as client:
                    with pytest.raises(anthropic.APIStatusError) as raised:
                        with client.messages.stream(
                            model="vm", max_tokens=10, messages=[{"role": "user", "content": "x"}]
                        ) as stream:
                            for event in stream:
                                seen.append(event.type)
                    return seen, raised.value

            seen, error = await in_thread(sdk)
            assert "content_block_delta" in seen and "message_stop" not in seen
            assert isinstance(error.body, dict) and error.body["type"] == "error"
            assert "mid-stream" in error.body["error"]["message"]
            stats = await gateway_stats(gateway)
            assert stats["recent"][0]["outcome"] == "cut"
            nursery.cancel_scope.cancel()


async def gateway_stats(gateway: Any) -> dict[str, Any]:
    async with gateway.http() as http:
        return (await http.get("/stats")).json()


NESTED = b"[" * 100_000 + b"]" * 100_000
HOSTILE = {
    "deeply nested reply": Garbage(NESTED, content_type="application/json"),
    "a Message that is no Message": Garbage(
        b'{"type": "message"}', content_type="application/json"
    ),
    "nested stream event": Garbage(b"event: message_start\ndata: " + NESTED + b"\n\n"),
    "error event before content": Garbage(
        b"event: error\ndata: "
        + b'{"type":"error","error":{"type":"overloaded_error","message":"busy"}}\n\n',
        content_type="text/event-stream",
    ),
    "529 overloaded": Error(
        529, body={"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    ),
    "an error echoing the key": Error(
        400,
        body={
            "type": "error",
            "error": {"type": "invalid_request_error", "message": "prompt is too long: claude-key"},
        },
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE))
@pytest.mark.parametrize("client", ["messages", "chat"])
async def test_a_misbehaving_anthropic_upstream_fails_over(case: str, client: str) -> None:
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {"claude": always(HOSTILE[case]), "beta": always(Complete("fine"))},
                virtual_models={"vm": ["claude/claude-up", "beta/m"]},
                providers=CLAUDE,
            )
            replies = []
            async with gateway.http() as http:
                for stream in (False, True):
                    if client == "messages":
                        body = {
                            "model": "vm",
                            "max_tokens": 9,
                            "messages": [{"role": "user", "content": "x"}],
                        }
                        reply = await http.post("/v1/messages", json={**body, "stream": stream})
                    else:
                        body = {"model": "vm", "messages": [{"role": "user", "content": "x"}]}
                        reply = await http.post(
                            "/v1/chat/completions", json={**body, "stream": stream}
                        )
                    replies.append(reply)
            for reply in replies:
                assert reply.status_code == 200, (case, reply.text)
                assert reply.headers["x-baton-provider"] == "beta", case
                assert "fine" in reply.text and "claude-key" not in reply.text
            nursery.cancel_scope.cancel()


async def test_a_request_with_no_chat_form_goes_to_a_native_upstream_only() -> None:
    """History with an Anthropic server tool's blocks cannot become Chat: a Chat candidate is
    passed over (`=skip:untranslatable`), a native one gets it as it is; with no native one
    the client learns why."""
    history = [
        {"role": "user", "content": "search it"},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "server_tool_use",
                    "id": "srvtoolu_1",
                    "name": "web_search",
                    "input": {"query": "baton"},
                },
                {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
                {"type": "text", "text": "Nothing found."},
            ],
        },
        {"role": "user", "content": "try again"},
    ]
    body = {"model": "vm", "max_tokens": 50, "messages": history}
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {"alpha": always(Complete("chat")), "claude": native_reply("native answer")},
                virtual_models={"vm": ["alpha/m", "claude/claude-up"], "chat-only": ["alpha/m"]},
                providers=CLAUDE,
            )
            async with gateway.http() as http:
                served = await http.post("/v1/messages", json=body)
                refused = await http.post("/v1/messages", json={**body, "model": "chat-only"})
            assert served.status_code == 200, served.text
            assert served.json()["content"][0]["text"] == "native answer"
            route = served.headers["x-baton-route"]
            assert route == "alpha/m=skip:untranslatable,claude/claude-up=200"
            assert gateway.upstreams["alpha"].calls == []
            sent = gateway.upstreams["claude"].calls[0].json
            assert sent["messages"][1]["content"][0]["type"] == "server_tool_use"
            assert refused.status_code == 400
            error = refused.json()["error"]
            assert error["type"] == "invalid_request_error"
            assert "server_tool_use" in error["message"]
            nursery.cancel_scope.cancel()


async def test_thinking_a_chat_upstream_gave_is_not_sent_to_anthropic() -> None:
    """Turn 1 was served by a Chat candidate (its thinking block unsigned), turn 2 by a native
    one: Anthropic would refuse the unsigned block, so it is left out of what it gets."""
    unsigned = {"type": "thinking", "thinking": "from chat", "signature": ""}
    history = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": [unsigned, {"type": "text", "text": "b"}]},
        {"role": "user", "content": "c"},
    ]
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {"claude": native_reply("fine")},
                virtual_models={"vm": ["claude/claude-up"]},
                providers=CLAUDE,
            )
            async with gateway.http() as http:
                reply = await http.post(
                    "/v1/messages", json={"model": "vm", "max_tokens": 20, "messages": history}
                )
            assert reply.status_code == 200, reply.text
            sent = gateway.upstreams["claude"].calls[0].json["messages"]
            assert sent[1]["content"] == [{"type": "text", "text": "b"}]
            nursery.cancel_scope.cancel()
