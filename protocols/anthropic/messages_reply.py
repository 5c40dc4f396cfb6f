"""A non-streamed Chat completion as an Anthropic `Message`.

Content follows what the model did, in the order a stream shows it: a `thinking` block (from
the message's `reasoning_content`, or `reasoning` as OpenRouter and vLLM call it), a `text`
block (the `content`, then any `refusal` text), then one `tool_use` block per tool call. A
thinking block's `signature` is empty: Chat upstreams sign nothing, and baton drops thinking
from the history a client sends back (see `messages_turns`), so no signature is ever checked.
A tool call keeps its id (one is minted, `toolu_...`, if the upstream gave none); its `input` is
the parsed `arguments`, or `{}` when they are empty, not JSON, or not an object, since a
`tool_use` input must be an object: the client then reports missing arguments to the model,
which can try again, where a wrapped raw string would be executed as an argument.

`stop_reason`: `stop` -> `end_turn` (Chat does not say which stop sequence matched, so never
`stop_sequence`), `length` -> `max_tokens`, `tool_calls` and `function_call` -> `tool_use`,
`content_filter` -> `refusal`. A reply with tool calls stops with `tool_use` whatever the
upstream said (some say `stop`), since agents loop on it.

Usage: Chat counts cached tokens inside `prompt_tokens`; Anthropic counts them apart, so
`input_tokens` is the prompt less the cached part and `cache_read_input_tokens` the cached part.
Chat never reports cache writes: `cache_creation_input_tokens` is 0. Unknown counts are 0.
"""

from __future__ import annotations

import secrets
import string
from typing import Any

from protocols import jsoncodec
from protocols.chat_choice import completion_choice
from protocols.responses.errors import UpstreamReplyError
from protocols.usage import Usage, usage_of_completion

_ALPHABET = string.ascii_letters + string.digits
_STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def new_message_id() -> str:
    """`msg_` and 24 base62 characters (about 143 bits), the shape of Anthropic's ids."""
    return "msg_" + _base62(24)


def new_tool_use_id() -> str:
    return "toolu_" + _base62(24)


def message_from_completion(
    completion: dict[str, Any], *, model: str, message_id: str
) -> dict[str, Any]:
    """Raises `UpstreamReplyError` when the completion is not one (no choices, an in-band
    error, text that is not a string)."""
    choice, message = completion_choice(completion)

    content: list[dict[str, Any]] = []
    thinking = message.get("reasoning_content") or message.get("reasoning")
    if thinking:
        content.append({"type": "thinking", "thinking": thinking, "signature": ""})
    text = (message.get("content") or "") + (message.get("refusal") or "")
    if text:
        content.append({"type": "text", "text": text})
    calls = message.get("tool_calls") or []
    if not isinstance(calls, list):
        raise UpstreamReplyError("upstream reply's tool_calls is not an array")
    content += [_tool_use(call) for call in calls]
    return message_object(
        message_id,
        model,
        content,
        stop_reason=stop_reason(choice.get("finish_reason"), tool_use=bool(calls)),
        usage=usage_object(usage_of_completion(completion)),
    )


def message_object(
    message_id: str,
    model: str,
    content: list[dict[str, Any]],
    *,
    stop_reason: str | None,
    usage: dict[str, int],
) -> dict[str, Any]:
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage,
    }


def stop_reason(finish_reason: Any, *, tool_use: bool) -> str:
    """Anthropic's stop reason for a Chat finish reason (None or unknown: `end_turn`)."""
    if tool_use and finish_reason in (None, "stop", "tool_calls", "function_call"):
        return "tool_use"
    if not isinstance(finish_reason, str):
        return "end_turn"
    return _STOP_REASONS.get(finish_reason, "end_turn")


def usage_object(usage: Usage | None) -> dict[str, int]:
    """A Message's `usage`; the cached part of the prompt counted apart."""
    usage = usage or Usage()
    cached = usage.cached or 0
    return {
        "input_tokens": max(0, (usage.input or 0) - cached),
        "output_tokens": usage.output or 0,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }


def tool_input(arguments: Any) -> dict[str, Any]:
    """A tool call's `arguments` as a `tool_use` input: `{}` unless they are a JSON object."""
    if isinstance(arguments, dict):  # a few servers send the parsed object
        return arguments
    if not isinstance(arguments, str) or not arguments.strip():
        return {}
    try:
        parsed = jsoncodec.loads(arguments)
    except (ValueError, RecursionError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _tool_use(call: Any) -> dict[str, Any]:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise UpstreamReplyError("upstream tool call has no function name")
    call_id = call.get("id")
    if not isinstance(call_id, str) or not call_id:
        call_id = new_tool_use_id()
    return {
        "type": "tool_use",
        "id": call_id,
        "name": function["name"],
        "input": tool_input(function.get("arguments")),
    }


def _base62(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))
