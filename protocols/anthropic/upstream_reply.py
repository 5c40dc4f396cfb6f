"""An Anthropic Message (the reply of `POST /messages`) as a Chat completion.

The Message's content blocks become one choice's message: `text` blocks joined as `content`
(null when there are none), `thinking` blocks joined as `reasoning_content` (the field
DeepSeek and others use; `redacted_thinking` holds nothing readable and is left out), and
`tool_use` blocks as `tool_calls` with their `input` as compact JSON `arguments`. Server tool
blocks (`server_tool_use`, web search results) have no Chat counterpart and are left out: their
outcome is in the text that follows them.

Usage: Anthropic counts the cached part of the prompt apart from `input_tokens`
(`cache_read_input_tokens` read from the cache, `cache_creation_input_tokens` written to it),
where Chat counts them inside `prompt_tokens`; so `prompt_tokens` is the sum of the three and
`prompt_tokens_details.cached_tokens` the part read from the cache.

`check_message` is this dialect's `protocols.chat.check_completion`: a 200 body must be a
Message; Anthropic's error shape (`{"type": "error", "error": {...}}`) is classified like any
error object (`protocols.failures`).
"""

from __future__ import annotations

import time
from typing import Any

from protocols import jsoncodec
from protocols.failures import FailureClass, UpstreamFailure, classify_error_object, reply_object
from protocols.usage import Usage

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def finish_reason(stop_reason: Any) -> str:
    """Anthropic's `stop_reason` as Chat's `finish_reason` (unknown reasons: `stop`)."""
    return FINISH_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def completion_id(message_id: Any) -> str:
    return f"chatcmpl-{message_id}" if isinstance(message_id, str) and message_id else "chatcmpl-"


def completion_from_message(
    message: dict[str, Any], *, model: str | None = None, created: int | None = None
) -> dict[str, Any]:
    """The Chat completion saying what `message` says. `model`: the name to report (default:
    the Message's own); `created`: epoch seconds (default: now)."""
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[dict[str, Any]] = []
    content = message.get("content")
    for block in content if isinstance(content, list) else []:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "thinking" and isinstance(block.get("thinking"), str):
            thoughts.append(block["thinking"])
        elif kind == "tool_use":
            arguments = jsoncodec.dumps(block.get("input") or {}).decode()
            function = {"name": str(block.get("name") or ""), "arguments": arguments}
            calls.append(
                {"id": str(block.get("id") or ""), "type": "function", "function": function}
            )
    reply: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts else None,
        "refusal": None,  # a refusal is a stop reason (`content_filter`), not a text apart
    }
    if thoughts:
        reply["reasoning_content"] = "".join(thoughts)
    if calls:
        reply["tool_calls"] = calls
    completion: dict[str, Any] = {
        "id": completion_id(message.get("id")),
        "object": "chat.completion",
        "created": int(time.time()) if created is None else created,
        "model": model if model is not None else str(message.get("model") or ""),
        "choices": [
            {
                "index": 0,
                "message": reply,
                "finish_reason": finish_reason(message.get("stop_reason")),
                "logprobs": None,
            }
        ],
    }
    usage = chat_usage(message.get("usage"))
    if usage is not None:
        completion["usage"] = usage
    return completion


def completion_body_from_message_body(body: bytes) -> bytes:
    """A Message body (one `check_message` passed) as a Chat completion body."""
    return jsoncodec.dumps(completion_from_message(jsoncodec.loads(body)))


def chat_usage(usage: Any) -> dict[str, Any] | None:
    """An Anthropic `usage` object as Chat's; None when it is not an object."""
    if not isinstance(usage, dict):
        return None
    fresh, read, written = (
        _count(usage.get(name))
        for name in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
    )
    output = _count(usage.get("output_tokens"))
    prompt = fresh + read + written
    return {
        "prompt_tokens": prompt,
        "completion_tokens": output,
        "total_tokens": prompt + output,
        "prompt_tokens_details": {"cached_tokens": read},
    }


def usage_of_message(message: Any) -> Usage | None:
    """The usage of a decoded Message (in `Usage`'s terms); None when it has none."""
    if not isinstance(message, dict):
        return None
    usage = chat_usage(message.get("usage"))
    return None if usage is None else Usage.from_chat(usage)


def check_message(body: bytes) -> UpstreamFailure | None:
    """None if a 200 body is a Message; otherwise what is wrong with it."""
    reply = reply_object(body)
    if isinstance(reply, UpstreamFailure):
        return reply
    if reply.get("type") == "error" or (reply.get("error") is not None and "content" not in reply):
        return classify_error_object(error_object(reply), status=200)
    if reply.get("type") != "message" or not isinstance(reply.get("content"), list):
        return UpstreamFailure(
            FailureClass.MALFORMED,
            "upstream reply is not a Message with a content list",
            status=200,
        )
    return None


def error_object(event: dict[str, Any]) -> dict[str, Any]:
    """The error an Anthropic error body or `error` event carries, as an object."""
    error = event.get("error")
    if isinstance(error, dict):
        return error
    return {"message": str(error) if error else "upstream reported an error"}


def _count(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return 0
