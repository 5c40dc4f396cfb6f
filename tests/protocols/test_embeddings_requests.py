"""Embeddings requests checked, batches combined and split back (indices and usage)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from protocols.embeddings import EmbeddingsRequest, check_embeddings, combine, split
from protocols.errors import BadRequest
from protocols.failures import FailureClass


def request(**fields: Any) -> EmbeddingsRequest:
    return EmbeddingsRequest.from_payload({"model": "emb", **fields})


@pytest.mark.parametrize(
    ("value", "inputs"),
    [
        ("one", ("one",)),
        (["a", "b"], ("a", "b")),
        ([1, 2, 3], ([1, 2, 3],)),  # one input given as token ids
        ([[1, 2], [3]], ([1, 2], [3])),
    ],
)
def test_every_input_shape_is_a_tuple_of_inputs(value: Any, inputs: tuple[Any, ...]) -> None:
    assert request(input=value).inputs == inputs


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({}, "input"),
        ({"input": ""}, "input"),
        ({"input": []}, "input"),
        ({"input": {"a": 1}}, "input"),
        ({"input": ["a", ""]}, "input[1]"),
        ({"input": ["a", 3]}, "input[1]"),
        ({"input": [[1], []]}, "input[1]"),
        ({"input": "a", "encoding_format": "int8"}, "encoding_format"),
        ({"input": "a", "dimensions": 0}, "dimensions"),
        ({"input": "a", "dimensions": True}, "dimensions"),
        ({"input": "a", "model": 5}, "model"),
    ],
)
def test_bad_requests_name_their_param(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(BadRequest) as raised:
        request(**fields)
    assert raised.value.param == param


def test_only_requests_that_agree_share_a_batch() -> None:
    base = request(input="a").batch_key
    assert request(input=["b", "c"]).batch_key == base
    assert request(input="a", dimensions=256).batch_key != base
    assert request(input="a", encoding_format="base64").batch_key != base
    assert EmbeddingsRequest.from_payload({"model": "other", "input": "a"}).batch_key != base
    # a field baton does not know still tells requests apart: a query is no document
    assert (
        request(input="a", input_type="query").batch_key
        != request(input="b", input_type="document").batch_key
    )
    assert (
        request(input="a", user="u", dimensions=8).batch_key
        == request(input=["b"], dimensions=8, user="u").batch_key
    )


def test_body_for_sets_the_candidates_model_and_keeps_the_rest() -> None:
    body = json.loads(request(input="a", user="u", extra=1).body_for("up-model"))
    assert body == {"model": "up-model", "input": "a", "user": "u", "extra": 1}


def _reply(count: int, usage: dict[str, int] | None) -> dict[str, Any]:
    data = [{"object": "embedding", "index": i, "embedding": [float(i)]} for i in range(count)]
    data.reverse()  # an upstream may list them in any order: the index says which is which
    reply: dict[str, Any] = {"object": "list", "data": data, "model": "up"}
    if usage is not None:
        reply["usage"] = usage
    return reply


def test_a_batch_is_split_back_with_each_callers_vectors_and_share_of_usage() -> None:
    callers = [request(input="aaaa"), request(input=["bb", "cc"]), request(input=[1, 2])]
    combined = combine(callers)
    assert combined.inputs == ("aaaa", "bb", "cc", [1, 2])
    assert combined.payload["input"] == ["aaaa", "bb", "cc", [1, 2]]
    parts = split(_reply(4, {"prompt_tokens": 11, "total_tokens": 11}), callers)
    assert [[item["embedding"] for item in part["data"]] for part in parts] == [
        [[0.0]],
        [[1.0], [2.0]],
        [[3.0]],
    ]
    assert [[item["index"] for item in part["data"]] for part in parts] == [[0], [0, 1], [0]]
    # weights 4, 4 and 2 of 11 tokens: 4, 4, 2, and the one left over to the first
    assert [part["usage"] for part in parts] == [
        {"prompt_tokens": 5, "total_tokens": 5},
        {"prompt_tokens": 4, "total_tokens": 4},
        {"prompt_tokens": 2, "total_tokens": 2},
    ]
    assert sum(part["usage"]["prompt_tokens"] for part in parts) == 11
    assert all(part["model"] == "up" for part in parts)


def test_a_reply_without_usage_splits_without_it() -> None:
    parts = split(_reply(2, None), [request(input="a"), request(input="b")])
    assert all("usage" not in part for part in parts)


@pytest.mark.parametrize(
    "reply",
    [
        {"data": [{"index": 0, "embedding": [0.0]}]},  # one short
        {"data": [{"index": 0, "embedding": [0.0]}, {"index": 0, "embedding": [0.0]}]},
        {"data": [{"index": 0, "embedding": [0.0]}, {"index": 5, "embedding": [0.0]}]},
        {"data": [{"embedding": [0.0]}, {"embedding": [0.0]}]},
        {"data": "nope"},
    ],
)
def test_a_reply_that_does_not_cover_each_input_once_is_refused(reply: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        split(reply, [request(input="a"), request(input="b")])


def test_check_embeddings() -> None:
    assert check_embeddings(json.dumps(_reply(1, None)).encode()) is None
    for body in (b"nope", b"[1]", b'{"data": [{"index": 0}]}', b"[" * 10_000):
        failure = check_embeddings(body)
        assert failure is not None and failure.failure is FailureClass.MALFORMED, body
    failure = check_embeddings(
        b'{"error": {"message": "slow down", "code": "rate_limit_exceeded"}}'
    )
    assert failure is not None and failure.failure is FailureClass.RATE_LIMIT
