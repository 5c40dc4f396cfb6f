"""`chat_to_response` against the vectors in vectors/responses/replies.json.

Every Response is validated against the spec's `Response`, and every upstream completion of a
vector against `CreateChatCompletionResponse` (so the vectors stay honest Chat replies).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openai.types.responses import Response

from protocols.responses import IdFactory, UpstreamReplyError, chat_to_response
from tests.schema import validate

VECTORS = json.loads((Path(__file__).parent / "vectors" / "responses" / "replies.json").read_text())
REQUEST = {"model": "coding-elite", "input": "hi"}


def reply(completion: dict[str, Any], request: dict[str, Any] = REQUEST, **kw: Any) -> dict:
    return chat_to_response(
        completion, request=request, ids=IdFactory.deterministic(), created_at=1767225600, **kw
    )


@pytest.mark.parametrize("vector", VECTORS["translate"], ids=lambda v: v["name"])
def test_translates(vector: dict[str, Any]) -> None:
    if "upstream_note" not in vector:  # else a liberty real servers take, said in the note
        validate(vector["completion"], "CreateChatCompletionResponse")
    response = reply(vector["completion"], completed_at=1767225609)
    validate(response, "Response")
    Response.model_validate(response)  # strictly, as the openai package's own type
    assert response["id"] == "resp_00000000"
    assert response["object"] == "response"
    assert response["output"] == vector["output"]
    assert response["status"] == vector["status"]
    assert response["incomplete_details"] == vector.get("incomplete_details")
    assert response["error"] is None
    assert response.get("usage") == vector["usage"]
    completed = vector["status"] == "completed"
    assert response["completed_at"] == (1767225609 if completed else None)


@pytest.mark.parametrize("vector", VECTORS["refuse"], ids=lambda v: v["name"])
def test_refuses_what_is_not_a_completion(vector: dict[str, Any]) -> None:
    with pytest.raises(UpstreamReplyError) as caught:
        reply(vector["completion"])
    assert caught.value.error == vector.get("error")


def test_echoes_the_request_with_the_api_defaults() -> None:
    completion = VECTORS["translate"][0]["completion"]
    response = reply(completion)
    assert {key: response[key] for key in ECHO_DEFAULTS} == ECHO_DEFAULTS
    assert response["model"] == "coding-elite"  # the name the client asked for
    assert "user" not in response  # the schema admits a string only


ECHO_DEFAULTS: dict[str, Any] = {
    "instructions": None,
    "max_output_tokens": None,
    "previous_response_id": None,
    "parallel_tool_calls": True,
    "temperature": 1.0,
    "top_p": 1.0,
    "tool_choice": "auto",
    "tools": [],
    "text": {"format": {"type": "text"}, "verbosity": "medium"},
    "reasoning": {"effort": None, "summary": None},
    "store": True,
    "truncation": "disabled",
    "metadata": {},
    "background": False,
}


def test_echoes_what_the_client_set() -> None:
    schema = {"type": "object", "properties": {}, "additionalProperties": False}
    request = {
        "model": "coding-fast",
        "instructions": "Be brief.",
        "input": "hi",
        "max_output_tokens": 256,
        "previous_response_id": "resp_1",
        "parallel_tool_calls": False,
        "temperature": 0.3,
        "top_p": 0.5,
        "tool_choice": {"type": "function", "name": "f"},
        "tools": [
            {"type": "function", "name": "f", "description": "does f"},
            {"type": "web_search"},
        ],
        "text": {"format": {"type": "json_schema", "name": "x", "schema": schema}},
        "reasoning": {"effort": "low"},
        "store": False,
        "metadata": {"k": "v"},
        "user": "u-1",
        "prompt_cache_key": "pk",
    }
    response = reply(VECTORS["translate"][0]["completion"], request)
    validate(response, "Response")
    assert response["tools"] == [
        {
            "type": "function",
            "name": "f",
            "description": "does f",
            "parameters": None,
            "strict": None,
        },
        {"type": "web_search"},
    ]
    assert response["text"] == {"format": request["text"]["format"], "verbosity": "medium"}
    assert response["reasoning"] == {"effort": "low", "summary": None}
    for key in (
        "instructions",
        "max_output_tokens",
        "previous_response_id",
        "temperature",
        "top_p",
        "tool_choice",
        "store",
        "metadata",
        "user",
        "prompt_cache_key",
        "parallel_tool_calls",
        "model",
    ):
        assert response[key] == request[key], key


def test_random_ids_have_openai_shape() -> None:
    completion = VECTORS["translate"][2]["completion"]
    response = chat_to_response(completion, request=REQUEST, ids=IdFactory.random(), created_at=0)
    prefixes = [response["id"].split("_")[0]] + [
        item["id"].split("_")[0] for item in response["output"]
    ]
    assert prefixes == ["resp", "rs", "msg", "fc"]
    assert all(len(item["id"].split("_")[1]) == 48 for item in response["output"])
    other = chat_to_response(completion, request=REQUEST, ids=IdFactory.random(), created_at=0)
    assert other["id"] != response["id"]
