"""`ResponseStream` against the vectors in vectors/responses/streams.json.

Each vector is an upstream Chat stream (chunks that match `CreateChatCompletionStreamResponse`
unless a note says which liberty a real server takes) and how it ends: `finish()`, or
`fail(code, message)` for an upstream that broke. It names the events expected (type and
output index) and the final Response's output, status and usage. Every vector is also run
with each text, reasoning and argument delta split into one-character chunks, and as raw SSE
bytes decoded whole and byte by byte; and every stream is checked for the invariants clients
rely on (see `check_invariants`), every event against the spec.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from protocols.responses import IdFactory, ResponseStream, chat_to_response
from protocols.sse import SSEDecoder
from tests.schema import document, validate

VECTORS = json.loads((Path(__file__).parent / "vectors" / "responses" / "streams.json").read_text())
REQUEST = {"model": "coding-elite", "input": "hi", "stream": True}
CREATED, COMPLETED = 1767225600, 1767225607
TERMINAL = ("response.completed", "response.incomplete", "response.failed")


def event_schemas() -> dict[str, str]:
    """Event type -> the name of its own schema, read from the spec's `ResponseStreamEvent`."""
    schemas = document()["components"]["schemas"]
    names = [ref["$ref"].rsplit("/", 1)[1] for ref in schemas["ResponseStreamEvent"]["anyOf"]]
    return {schemas[name]["properties"]["type"]["enum"][0]: name for name in names}


EVENT_SCHEMAS = event_schemas()
SDK_EVENT: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
ERROR_CODES = document()["components"]["schemas"]["ResponseErrorCode"]["enum"]


def with_known_code(event: dict[str, Any]) -> dict[str, Any]:
    """Codex keys on error codes the spec's enum lacks (`context_length_exceeded`,
    `insufficient_quota`), so `fail` passes the upstream's code through; the rest of such an
    event must still match, so it is checked with a code the enum has."""
    if event["type"] != "response.failed" or event["response"]["error"]["code"] in ERROR_CODES:
        return event
    event = copy.deepcopy(event)
    event["response"]["error"]["code"] = "server_error"
    return event


def validate_event(event: dict[str, Any]) -> None:
    event = with_known_code(event)
    validate(event, "ResponseStreamEvent")
    validate(event, EVENT_SCHEMAS[event["type"]])
    SDK_EVENT.validate_python(event)  # strictly, as the openai package's own types


def run(chunks: list[dict[str, Any]], fail: dict[str, str] | None = None) -> tuple[list, Any]:
    stream = ResponseStream(REQUEST, IdFactory.deterministic(), CREATED)
    events = stream.start()
    for chunk in chunks:
        events += stream.feed(chunk)
    events += stream.fail(**fail) if fail else stream.finish(completed_at=COMPLETED)
    return events, stream


def compact(events: list[dict[str, Any]]) -> list[str]:
    return [
        f"{e['type']} {e['output_index']}" if "output_index" in e else e["type"] for e in events
    ]


SPLIT = ("reasoning_content", "reasoning", "content", "refusal")


def split_deltas(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same stream with every text, reasoning and argument delta one character at a time;
    a chunk's finish reason and usage follow its pieces in a chunk of their own."""
    out = []
    for chunk in chunks:
        if not chunk["choices"]:
            out.append(chunk)
            continue
        choice = chunk["choices"][0]
        delta = choice["delta"]
        rest = {k: v for k, v in delta.items() if k not in (*SPLIT, "tool_calls")}
        if rest:
            out.append(piece(chunk, rest))
        for key in SPLIT:
            if isinstance(delta.get(key), str):
                out += [piece(chunk, {key: char}) for char in delta[key]]
        for call in delta.get("tool_calls") or ():
            function = call.get("function", {})
            args = function.get("arguments") or ""
            out.append(
                piece(
                    chunk,
                    {"tool_calls": [{**call, "function": {**function, "arguments": args[:1]}}]},
                )
            )
            tail = [{"index": call["index"], "function": {"arguments": char}} for char in args[1:]]
            out += [piece(chunk, {"tool_calls": [fragment]}) for fragment in tail]
        if choice["finish_reason"] or "usage" in chunk:
            out.append(piece(chunk, {}, choice["finish_reason"], chunk.get("usage")))
    return out


def piece(
    chunk: dict[str, Any],
    delta: dict[str, Any],
    finish: str | None = None,
    usage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    choice = {**chunk["choices"][0], "delta": delta, "finish_reason": finish}
    out = {k: v for k, v in chunk.items() if k != "usage"} | {"choices": [choice]}
    return out | ({"usage": usage} if usage is not None else {})


def aggregate(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """The non-streamed completion a stream stands for (calls told apart as the stream does)."""
    texts = {key: "" for key in SPLIT}
    calls: list[dict[str, Any]] = []
    finish, usage = None, None
    for chunk in chunks:
        usage = chunk.get("usage") or usage
        for choice in chunk["choices"]:
            finish = choice["finish_reason"] or finish
            delta = choice["delta"]
            for key in SPLIT:
                texts[key] += delta.get(key) or ""
            for call in delta.get("tool_calls") or ():
                if (
                    not calls
                    or call["index"] != calls[-1]["index"]
                    or call.get("id", calls[-1]["id"]) != calls[-1]["id"]
                ):
                    calls.append(
                        {
                            "index": call["index"],
                            "id": call.get("id"),
                            "type": "function",
                            "function": {"name": "", "arguments": ""},
                        }
                    )
                function = call.get("function", {})
                calls[-1]["function"]["name"] += function.get("name") or ""
                calls[-1]["function"]["arguments"] += function.get("arguments") or ""
    message = {
        "role": "assistant",
        "content": texts["content"] or None,
        "refusal": texts["refusal"] or None,
        "reasoning_content": texts["reasoning_content"] or texts["reasoning"] or None,
    }
    if calls:
        message["tool_calls"] = [{k: v for k, v in call.items() if k != "index"} for call in calls]
    completion = {
        "id": "chatcmpl-7",
        "object": "chat.completion",
        "created": CREATED,
        "model": "m",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
    }
    return completion | ({"usage": usage} if usage else {})


def check_invariants(events: list[dict[str, Any]], stream: ResponseStream) -> None:
    """What clients rely on (spec/README.md), checked on every stream a test produces."""
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[0]["type"] == "response.created"
    assert [e["type"] in TERMINAL for e in events].count(True) == 1
    assert events[-1]["type"] in TERMINAL
    final = events[-1]["response"]
    assert final == stream.response
    Response.model_validate(with_known_code(events[-1])["response"])
    added: dict[int, dict[str, Any]] = {}
    done: dict[int, dict[str, Any]] = {}
    texts: dict[tuple[Any, ...], str] = {}
    open_parts: set[tuple[int, int]] = set()
    for event in events:
        validate_event(event)
        kind = event["type"]
        if "response" in event:
            assert event["response"]["id"] == final["id"]
            assert ("usage" in event["response"]) == (kind in TERMINAL and "usage" in final)
        if "output_index" not in event:
            continue
        index = event["output_index"]
        if kind == "response.output_item.added":
            assert index == len(added) and index not in done
            added[index] = event["item"]
            continue
        assert index in added and index not in done, f"{kind} outside its item"
        if kind == "response.output_item.done":
            done[index] = event["item"]
            assert event["item"]["id"] == added[index]["id"]
            continue
        assert event["item_id"] == added[index]["id"]
        part = (index, event.get("content_index", event.get("summary_index", 0)))
        if kind.endswith("part.added"):
            open_parts.add(part)
        elif kind.endswith(".delta"):
            if "content_index" in event or "summary_index" in event:
                assert part in open_parts, f"{kind} before its part was added"
            texts[(kind[:-6], *part)] = texts.get((kind[:-6], *part), "") + event["delta"]
        elif kind.endswith(".done") and not kind.endswith("part.done"):
            whole = event.get("text", event.get("arguments", event.get("refusal")))
            assert whole == texts.get((kind[:-5], *part), "")
    assert sorted(done) == list(range(len(added)))
    assert [done[i] for i in sorted(done)] == final["output"]


def collapse(types: list[str]) -> list[str]:
    return [
        t
        for i, t in enumerate(types)
        if not (t.split()[0].endswith(".delta") and types[i - 1] == t)
    ]


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["name"])
def test_stream_vector(vector: dict[str, Any]) -> None:
    if "upstream_note" not in vector:
        for chunk in vector["chunks"]:
            validate(chunk, "CreateChatCompletionStreamResponse")
    events, stream = run(vector["chunks"], vector.get("fail"))
    check_invariants(events, stream)
    assert compact(events) == vector["events"]
    response = stream.response
    assert response["id"] == "resp_00000000"
    assert response["output"] == vector["output"]
    assert response["status"] == vector["status"]
    assert response["incomplete_details"] == vector.get("incomplete_details")
    assert response.get("usage") == vector["usage"]
    assert response["error"] == vector.get("fail")
    assert response["completed_at"] == (COMPLETED if vector["status"] == "completed" else None)


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["name"])
def test_stream_vector_one_character_at_a_time(vector: dict[str, Any]) -> None:
    whole_events, whole = run(vector["chunks"], vector.get("fail"))
    events, stream = run(split_deltas(vector["chunks"]), vector.get("fail"))
    check_invariants(events, stream)
    assert stream.response == whole.response
    assert collapse(compact(events)) == collapse(compact(whole_events))


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["name"])
def test_stream_vector_from_sse_bytes_whole_and_byte_by_byte(vector: dict[str, Any]) -> None:
    raw = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in vector["chunks"])
    raw += b"data: [DONE]\n\n"

    def chunks(pieces: list[bytes]) -> list[dict[str, Any]]:
        decoder = SSEDecoder()
        events = [event for piece in pieces for event in decoder.feed(piece)]
        assert events[-1].data == "[DONE]" and not decoder.pending
        return [json.loads(event.data) for event in events[:-1]]

    whole = chunks([raw])
    assert whole == vector["chunks"]
    assert chunks([raw[i : i + 1] for i in range(len(raw))]) == whole
    assert run(whole, vector.get("fail"))[0] == run(vector["chunks"], vector.get("fail"))[0]


@pytest.mark.parametrize("vector", [v for v in VECTORS if "fail" not in v], ids=lambda v: v["name"])
def test_stream_and_reply_agree(vector: dict[str, Any]) -> None:
    _, stream = run(vector["chunks"])
    reply = chat_to_response(
        aggregate(vector["chunks"]),
        request=REQUEST,
        ids=IdFactory.deterministic(),
        created_at=CREATED,
        completed_at=COMPLETED,
    )
    assert reply == stream.response
