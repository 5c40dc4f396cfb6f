"""Providers of kind openai-responses get Responses requests passed through, not translated."""

import json

import trio

from edge.simulator import Complete, Error, Garbage, Reply, SimRequest, always
from protocols import sse
from tests.e2e.harness import in_thread, launch

NATIVE_ID = "resp_upstream_1"


def native_events(text: str) -> bytes:
    message = {
        "id": "msg_up_1",
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }
    response = {
        "id": NATIVE_ID,
        "object": "response",
        "created_at": 1,
        "model": "up-model",
        "status": "in_progress",
        "output": [],
    }
    events = [
        {"type": "response.created", "response": response},
        {"type": "response.in_progress", "response": response},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {**message, "status": "in_progress", "content": []},
        },
        {
            "type": "response.content_part.added",
            "item_id": "msg_up_1",
            "output_index": 0,
            "content_index": 0,
            "part": {"type": "output_text", "text": "", "annotations": []},
        },
        {
            "type": "response.output_text.delta",
            "item_id": "msg_up_1",
            "output_index": 0,
            "content_index": 0,
            "delta": text,
            "logprobs": [],
        },
        {"type": "response.output_item.done", "output_index": 0, "item": message},
        {
            "type": "response.completed",
            "response": {**response, "status": "completed", "output": [message]},
        },
    ]
    return b"".join(
        sse.encode_event(e["type"], json.dumps({**e, "sequence_number": n}))
        for n, e in enumerate(events)
    )


def native_object(text: str) -> bytes:
    return json.dumps(
        {
            "id": NATIVE_ID,
            "object": "response",
            "created_at": 1,
            "model": "up-model",
            "status": "completed",
            "output": [
                {
                    "id": "msg_up_1",
                    "type": "message",
                    "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": text, "annotations": []}],
                }
            ],
        }
    ).encode()


def native(request: SimRequest) -> Reply:
    if not request.path.endswith("/responses"):
        return Error(400)  # a Chat call would be a translation: not wanted here
    if request.stream:
        return Garbage(native_events("natively streamed"), content_type="text/event-stream")
    return Garbage(native_object("natively answered"), content_type="application/json")


async def test_responses_pass_through_to_a_native_provider_after_a_failover() -> None:
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {"alpha": always(Error.rate_limited(retry_after=30)), "oai": native},
                virtual_models={"vm": ["alpha/m", "oai/up-model"]},
                providers={"oai": {"kind": "openai-responses"}},
            )
            web_search = {"type": "web_search"}
            with gateway.client() as client:
                plain = await in_thread(
                    client.responses.create, model="vm", input="hi", tools=[web_search]
                )
                assert plain.output_text == "natively answered"
                assert plain.id == NATIVE_ID and plain.model == "vm"

                def streamed() -> list:
                    with client.responses.create(
                        model="vm", input="again", stream=True, previous_response_id=plain.id
                    ) as stream:
                        return list(stream)

                events = await in_thread(streamed)
            types = [e.type for e in events]
            assert types[0] == "response.created" and types[-1] == "response.completed"
            assert types.count("response.created") == 1
            assert [e.sequence_number for e in events] == list(range(len(events)))
            final = events[-1].response
            assert final.output_text == "natively streamed"
            assert final.id == events[0].response.id  # baton's id throughout, not upstream's
            sent = [call.json for call in gateway.upstreams["oai"].calls]
            assert sent[0]["tools"] == [web_search]  # hosted tools reach a native upstream
            assert sent[0]["model"] == "up-model" and sent[0]["store"] is False
            assert "previous_response_id" not in sent[1]
            replayed = json.dumps(sent[1]["input"])
            assert "natively answered" in replayed and "again" in replayed
            assert gateway.upstreams["alpha"].calls[0].path.endswith("/chat/completions")
            nursery.cancel_scope.cancel()


async def test_chat_calls_to_a_native_provider_still_use_chat_completions() -> None:
    def both(request: SimRequest) -> Reply:
        return Complete("chat reply") if request.path.endswith("/chat/completions") else Error(500)

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery, {"oai": both}, providers={"oai": {"kind": "openai-responses"}}
            )
            raw = await gateway.chat("oai/up-model")
            assert raw.parse().choices[0].message.content == "chat reply"
            nursery.cancel_scope.cancel()
