"""`responses_to_chat` against the vectors in vectors/responses/requests.json.

Every accepted request is checked against the spec's `CreateResponse` and every Chat body we
produce against `CreateChatCompletionRequest`. The request is checked in two steps: without
`input` against `CreateResponse`, then each input item against the one schema its `type`
names, because `InputItem` is a `oneOf` whose branches overlap (a typed user message matches
both `EasyInputMessage` and `InputMessage`), so no real input list passes it whole.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from protocols.errors import CallerError
from protocols.responses import RequestError, history_items, responses_to_chat
from tests.schema import errors, validate

VECTORS = json.loads(
    (Path(__file__).parent / "vectors" / "responses" / "requests.json").read_text()
)
ITEM_SCHEMAS = {
    "message": ("EasyInputMessage", "InputMessage", "OutputMessage"),
    "function_call": ("FunctionToolCall",),
    "function_call_output": ("FunctionCallOutputItemParam",),
    "reasoning": ("ReasoningItem",),
    "item_reference": ("ItemReferenceParam",),
    "web_search_call": ("WebSearchToolCall",),
    "custom_tool_call": ("CustomToolCall",),
    "custom_tool_call_output": ("CustomToolCallOutput",),
}


def request_problems(request: dict[str, Any]) -> list[str]:
    problems = errors({k: v for k, v in request.items() if k != "input"}, "CreateResponse")
    items = request.get("input")
    if isinstance(items, list):
        for index, item in enumerate(items):
            names = ITEM_SCHEMAS[item.get("type", "message")]
            if all(errors(item, name) for name in names):
                problems.append(f"input[{index}] matches none of {names}")
    return problems


def translate(vector: dict[str, Any]) -> Any:
    store = vector.get("store")
    previous = vector.get("previous")
    history = history_items(previous["input"], previous["output"]) if previous else ()
    return responses_to_chat(
        vector["request"],
        resolve_item=store.get if store is not None else None,
        history=history,
        keep_reasoning=vector.get("keep_reasoning", False),
    )


@pytest.mark.parametrize("vector", VECTORS["translate"], ids=lambda v: v["name"])
def test_translates(vector: dict[str, Any]) -> None:
    translation = translate(vector)
    assert translation.chat == vector["chat"]
    assert list(translation.dropped_tools) == vector.get("dropped_tools", [])
    assert list(translation.notes) == vector.get("notes", [])
    validate(translation.chat, "CreateChatCompletionRequest")


@pytest.mark.parametrize("vector", VECTORS["translate"], ids=lambda v: v["name"])
def test_accepted_requests_match_the_spec(vector: dict[str, Any]) -> None:
    problems = request_problems(vector["request"])
    if vector.get("spec_valid", True):
        assert problems == []
    else:  # a shape real clients send that the spec is stricter about; keep the claim honest
        assert problems, vector["spec_note"]


@pytest.mark.parametrize("vector", VECTORS["refuse"], ids=lambda v: v["name"])
def test_refuses_with_the_offending_param(vector: dict[str, Any]) -> None:
    with pytest.raises(RequestError) as caught:
        translate(vector)
    assert caught.value.param == vector["param"]
    assert isinstance(caught.value, CallerError)
    assert caught.value.status == 400
    assert caught.value.envelope()["error"]["param"] == vector["param"]


def test_items_are_what_to_store_for_the_next_turn() -> None:
    first = responses_to_chat({"model": "m", "input": "What is 2+2?"})
    assert first.items == (
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "What is 2+2?"}],
        },
    )
    answer = {
        "type": "message",
        "id": "msg_1",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "4", "annotations": [], "logprobs": []}],
    }
    second = responses_to_chat(
        {"model": "m", "input": "And 3+3?"}, history=history_items(first.items, [answer])
    )
    third = responses_to_chat(
        {"model": "m", "input": "Thanks"}, history=history_items(second.items, [answer])
    )
    assert [m["content"] for m in third.chat["messages"]] == [
        "What is 2+2?",
        "4",
        "And 3+3?",
        "4",
        "Thanks",
    ]


def test_resolved_references_are_stored_resolved() -> None:
    item = {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"}
    request = {
        "model": "m",
        "input": [
            {"type": "item_reference", "id": "fc_1"},
            {"type": "function_call_output", "call_id": "call_1", "output": "ok"},
        ],
    }
    translation = responses_to_chat(request, resolve_item={"fc_1": item}.get)
    assert translation.items[0] == item


def test_does_not_touch_the_request() -> None:
    vector = next(v for v in VECTORS["translate"] if v["name"] == "codex_turn")
    before = json.dumps(vector["request"], sort_keys=True)
    translate(vector)
    assert json.dumps(vector["request"], sort_keys=True) == before
