"""Embeddings: the checks baton makes on requests and replies, and how a batch of callers'
requests becomes one upstream request and its reply is split back.

A request is forwarded nearly untouched, like a Chat request: unknown fields pass through,
`model` is rewritten per candidate. What is checked is what routing and batching need:
`model`; `input` (a string, an array of strings, an array of token ids, or an array of such
arrays, never empty); `encoding_format` (`float` or `base64`); `dimensions` (a positive
integer).

Batching (`combine`, `split`): requests for the same model whose other fields are all the same
(`encoding_format`, `dimensions`, `user`, and any an upstream reads that baton does not know)
are sent as one request whose `input` is every caller's inputs in
turn. The reply's `data` items carry an `index` into that combined input; each caller gets
back its own items, re-indexed from 0, in the order of its inputs. The upstream reports one
`usage` for the batch; it is shared out in proportion to each caller's input size (characters,
or token ids), the remainder to the first callers, so the parts add up to the whole.
A reply that does not cover every input exactly once is malformed.
"""

from __future__ import annotations

from typing import Any

import attrs

from protocols import jsoncodec
from protocols.chat import parse_json_object, validate_model
from protocols.errors import BadRequest
from protocols.failures import FailureClass, UpstreamFailure, classify_error_object, reply_object

ENCODING_FORMATS = ("float", "base64")
_NOT_KEYED = frozenset({"input", "model"})  # what may differ between callers of one batch


@attrs.frozen
class EmbeddingsRequest:
    payload: dict[str, Any] = attrs.field(repr=False)
    model: str
    inputs: tuple[Any, ...] = attrs.field(repr=False)  # one item per embedding asked for
    size: int = 0  # bytes of the request as the client sent it
    stream: bool = attrs.field(default=False, init=False)  # never: for the walk's sake
    include_usage: bool = attrs.field(default=False, init=False)

    @classmethod
    def from_body(cls, body: bytes) -> EmbeddingsRequest:
        return cls.from_payload(parse_json_object(body), size=len(body))

    @classmethod
    def from_payload(cls, payload: dict[str, Any], *, size: int = 0) -> EmbeddingsRequest:
        model = validate_model(payload.get("model"))
        inputs = _inputs(payload.get("input"))
        encoding = payload.get("encoding_format")
        if encoding is not None and encoding not in ENCODING_FORMATS:
            raise BadRequest(
                "'encoding_format' must be 'float' or 'base64'",
                param="encoding_format",
                code="invalid_value",
            )
        dimensions = payload.get("dimensions")
        if dimensions is not None and (
            not isinstance(dimensions, int) or isinstance(dimensions, bool) or dimensions < 1
        ):
            raise BadRequest(
                "'dimensions' must be a positive integer", param="dimensions", code="invalid_value"
            )
        return cls(payload=payload, model=model, inputs=inputs, size=size)

    @property
    def batch_key(self) -> tuple[str, bytes]:
        """Requests with equal keys may share one upstream call: the same model, and the very
        same fields besides `input` (`encoding_format`, `dimensions` and `user`, but also any
        an upstream reads that baton does not know, `input_type: query` or `truncation`)."""
        rest = {name: value for name, value in self.payload.items() if name not in _NOT_KEYED}
        return (self.model, jsoncodec.dumps_sorted(rest))

    @property
    def weight(self) -> int:
        """How much input this request carries: its share of a batch's usage."""
        return sum(len(item) if isinstance(item, str | list) else 1 for item in self.inputs)

    def body_for(self, model: str, *, ask_usage: bool = False) -> bytes:
        """The upstream request body, with `model` set to the candidate's."""
        return jsoncodec.dumps({**self.payload, "model": model})


def _inputs(value: Any) -> tuple[Any, ...]:
    if value is None:
        raise BadRequest(
            "'input' is a required property", param="input", code="missing_required_parameter"
        )
    if isinstance(value, str):
        if not value:
            raise BadRequest("'input' must not be empty", param="input", code="invalid_value")
        return (value,)
    if not isinstance(value, list) or not value:
        raise BadRequest(
            "'input' must be a string or a non-empty array", param="input", code="invalid_type"
        )
    if all(_token(item) for item in value):
        return (value,)  # one input given as token ids
    for index, item in enumerate(value):
        where = f"input[{index}]"
        if isinstance(item, str):
            if not item:
                raise BadRequest(f"'{where}' must not be empty", param=where, code="invalid_value")
        elif not (isinstance(item, list) and item and all(_token(token) for token in item)):
            raise BadRequest(
                f"'{where}' must be a string or a non-empty array of token ids",
                param=where,
                code="invalid_type",
            )
    return tuple(value)


def _token(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def combine(requests: list[EmbeddingsRequest]) -> EmbeddingsRequest:
    """One request for every input of `requests` (which share a `batch_key`), in turn."""
    first = requests[0]
    inputs = [item for request in requests for item in request.inputs]
    payload = {**first.payload, "input": inputs}
    size = sum(request.size for request in requests)
    return EmbeddingsRequest(payload=payload, model=first.model, inputs=tuple(inputs), size=size)


def split(reply: dict[str, Any], requests: list[EmbeddingsRequest]) -> list[dict[str, Any]]:
    """Each request's own reply out of the batch's `reply`. Raises ValueError if the reply
    does not hold one embedding per input."""
    data = reply.get("data")
    total = sum(len(request.inputs) for request in requests)
    if not isinstance(data, list) or len(data) != total:
        raise ValueError(f"the reply holds {_count(data)} embeddings for {total} inputs")
    by_index: dict[int, dict[str, Any]] = {}
    for item in data:
        index = item.get("index") if isinstance(item, dict) else None
        if not isinstance(index, int) or not 0 <= index < total or index in by_index:
            raise ValueError("the reply's embeddings are not indexed 0..n-1, once each")
        by_index[index] = item
    shares = _shares(reply.get("usage"), [request.weight for request in requests])
    parts = []
    start = 0
    for request, usage in zip(requests, shares, strict=True):
        items = [
            {**by_index[start + offset], "index": offset} for offset in range(len(request.inputs))
        ]
        start += len(request.inputs)
        part = {**reply, "data": items}
        if usage is not None:
            part["usage"] = usage
        parts.append(part)
    return parts


def _count(data: Any) -> int:
    return len(data) if isinstance(data, list) else 0


def _shares(usage: Any, weights: list[int]) -> list[dict[str, int] | None]:
    """`usage`'s counts shared out by `weights` (whole tokens, adding up to the whole)."""
    if not isinstance(usage, dict):
        return [None] * len(weights)
    fields = {
        name: value
        for name, value in usage.items()
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0
    }
    total_weight = sum(weights) or 1
    shares: list[dict[str, int] | None] = [{} for _ in weights]
    for name, value in fields.items():
        parts = [value * weight // total_weight for weight in weights]
        for index in range(value - sum(parts)):
            parts[index % len(parts)] += 1
        for share, part in zip(shares, parts, strict=True):
            assert share is not None
            share[name] = part
    return shares


def check_embeddings(body: bytes) -> UpstreamFailure | None:
    """None if a 200 body is an embeddings list; otherwise what is wrong with it."""
    reply = reply_object(body)
    if isinstance(reply, UpstreamFailure):
        return reply
    if reply.get("error") is not None and not reply.get("data"):
        error = reply["error"]
        return classify_error_object(
            error if isinstance(error, dict) else {"message": str(error)}, status=200
        )
    data = reply.get("data")
    if not isinstance(data, list) or not all(
        isinstance(item, dict) and "embedding" in item for item in data
    ):
        return UpstreamFailure(
            FailureClass.MALFORMED, "upstream reply has no 'data' array of embeddings", status=200
        )
    return None
