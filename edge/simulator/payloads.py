"""The OpenAI bodies the simulator sends: completions, stream chunks, model lists.

Pure functions of a reply and the request; ids and timestamps come in as arguments so the
output is reproducible. Stream chunks follow what OpenAI sends (and clients rely on): a role
chunk with empty content first, `role`/`id`/`type`/`function.name` only in the first delta for a
tool call index, `logprobs: null` and `finish_reason: null` until the final chunk, and with
`include_usage` a `usage: null` in every chunk plus a last chunk with `choices: []`.
"""

from __future__ import annotations

import json
import re
from typing import Any

import attrs

from edge.simulator.replies import Complete, SimRequest

_WORDISH = re.compile(r"\s*\S+|\s+")
ARGUMENT_PIECE = 8  # tool-call argument fragments are this many characters long
DONE = b"data: [DONE]\n\n"


@attrs.frozen
class Envelope:
    """What every body of one reply shares."""

    id: str
    created: int
    model: str


def split_text(text: str, chunks: int | tuple[str, ...] | None = None) -> list[str]:
    """Split `text` into stream pieces; the pieces always join back to `text` (except for an
    explicit tuple, which is taken verbatim)."""
    if isinstance(chunks, tuple):
        return list(chunks)
    if not text:
        return []
    if chunks is None:
        return _WORDISH.findall(text)
    count = max(1, min(chunks, len(text)))
    size, extra = divmod(len(text), count)
    pieces: list[str] = []
    start = 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        pieces.append(text[start:end])
        start = end
    return pieces


def count_tokens(text: str) -> int:
    return len(_WORDISH.findall(text))


def _prompt_text(request: SimRequest) -> str:
    messages = request.json.get("messages") if isinstance(request.json, dict) else None
    if not isinstance(messages, list):
        return ""
    parts: list[str] = []
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(p["text"] for p in content if isinstance(p, dict) and "text" in p)
    return " ".join(parts)


def usage_body(reply: Complete, request: SimRequest) -> dict[str, Any] | None:
    if not isinstance(reply.usage, bool):
        usage = dict(reply.usage)
        usage.setdefault(
            "total_tokens", usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0)
        )
        return usage
    if not reply.usage:
        return None
    prompt = max(1, count_tokens(_prompt_text(request)))
    reasoning = count_tokens(reply.reasoning)
    completion = count_tokens(reply.text) + reasoning
    completion += sum(1 + len(split_text(c.arguments, None)) for c in reply.tool_calls)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def finish_reason(reply: Complete) -> str:
    if reply.finish_reason is not None:
        return reply.finish_reason
    return "tool_calls" if reply.tool_calls else "stop"


def completion_body(reply: Complete, request: SimRequest, envelope: Envelope) -> dict[str, Any]:
    """A whole `chat.completion` object."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": reply.text if reply.text or not reply.tool_calls else None,
        "refusal": None,
        "annotations": [],
    }
    if reply.reasoning:
        message["reasoning_content"] = reply.reasoning
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in reply.tool_calls
        ]
    body: dict[str, Any] = {
        "id": envelope.id,
        "object": "chat.completion",
        "created": envelope.created,
        "model": envelope.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_reason(reply),
            }
        ],
    }
    usage = usage_body(reply, request)
    if usage is not None:
        body["usage"] = usage
    return body


def stream_chunks(reply: Complete, request: SimRequest, envelope: Envelope) -> list[dict[str, Any]]:
    """Every `chat.completion.chunk` object of the streamed reply, in order."""
    usage = usage_body(reply, request) if request.include_usage else None

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": envelope.id,
            "object": "chat.completion.chunk",
            "created": envelope.created,
            "model": envelope.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if usage is not None:
            body["usage"] = None
        return body

    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"reasoning_content": p}) for p in split_text(reply.reasoning)]
    chunks += [chunk({"content": p}) for p in split_text(reply.text, reply.chunks)]
    for index, call in enumerate(reply.tool_calls):
        head = {"name": call.name, "arguments": ""}
        first = {"index": index, "id": call.id, "type": "function", "function": head}
        chunks.append(chunk({"tool_calls": [first]}))
        for start in range(0, len(call.arguments), ARGUMENT_PIECE):
            fragment = call.arguments[start : start + ARGUMENT_PIECE]
            part = {"index": index, "function": {"arguments": fragment}}
            chunks.append(chunk({"tool_calls": [part]}))
    chunks.append(chunk({}, finish_reason(reply)))
    if usage is not None:
        last = chunk({})
        last["choices"] = []
        last["usage"] = usage
        chunks.append(last)
    return chunks


def sse_events(chunks: list[dict[str, Any]]) -> list[bytes]:
    """The wire form of a stream: one `data:` event per chunk, then `data: [DONE]`."""
    return [b"data: " + json_bytes(c) + b"\n\n" for c in chunks] + [DONE]


def models_body(models: tuple[str, ...], owner: str, created: int) -> dict[str, Any]:
    data = [{"id": m, "object": "model", "created": created, "owned_by": owner} for m in models]
    return {"object": "list", "data": data}


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
