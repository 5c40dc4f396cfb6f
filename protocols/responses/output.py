"""The pieces of a Response built from a Chat reply: output items, usage, the final status.

Upstream reasoning (`reasoning_content` from DeepSeek, Groq and vLLM; `reasoning` from
OpenRouter) becomes a `reasoning` item whose text is its one `summary_text` part: clients show
summaries (Codex hides raw reasoning text unless asked), and the issue's stream carries
`response.reasoning_summary_*` events. Such an item has no `encrypted_content`.

A Chat `finish_reason` decides how the Response ends: `length` is `incomplete` with reason
`max_output_tokens`, `content_filter` is `incomplete` with reason `content_filter`, anything
else (`stop`, `tool_calls`, none at all) is `completed`. In an incomplete Response only the last
output item is `incomplete`: the cut happened there, every earlier item was whole.
"""

from __future__ import annotations

from typing import Any

Item = dict[str, Any]

_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def refusal_part(refusal: str) -> dict[str, Any]:
    return {"type": "refusal", "refusal": refusal}


def message_item(item_id: str, content: list[dict[str, Any]], status: str) -> Item:
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content,
    }


def function_call_item(item_id: str, call_id: str, name: str, arguments: str, status: str) -> Item:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def summary_part(text: str) -> dict[str, Any]:
    return {"type": "summary_text", "text": text}


def reasoning_item(item_id: str, summary: str | None, status: str) -> Item:
    parts = [summary_part(summary)] if summary is not None else []
    return {"id": item_id, "type": "reasoning", "status": status, "summary": parts}


def reasoning_text(message: dict[str, Any]) -> str:
    """The reasoning of a Chat message or delta, under either upstream spelling."""
    for field in ("reasoning_content", "reasoning"):
        value = message.get(field)
        if isinstance(value, str) and value:
            return value
    return ""


def outcome(finish_reason: str | None) -> tuple[str, dict[str, str] | None]:
    """(status, incomplete_details) of a Response whose upstream stopped for `finish_reason`."""
    reason = _INCOMPLETE.get(finish_reason or "")
    if reason is None:
        return "completed", None
    return "incomplete", {"reason": reason}


def usage_from_chat(usage: Any) -> dict[str, Any] | None:
    """Chat `usage` as Responses usage, every detail present (0 when the upstream is silent)."""
    if not isinstance(usage, dict):
        return None
    prompt = _details(usage, "prompt_tokens_details")
    completion = _details(usage, "completion_tokens_details")
    input_tokens = _count(usage.get("prompt_tokens"))
    output_tokens = _count(usage.get("completion_tokens"))
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {
            "cached_tokens": _count(prompt.get("cached_tokens")),
            "cache_write_tokens": _count(prompt.get("cache_write_tokens")),
        },
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": _count(completion.get("reasoning_tokens"))},
        "total_tokens": _count(usage.get("total_tokens")) or input_tokens + output_tokens,
    }


def _details(usage: dict[str, Any], field: str) -> dict[str, Any]:
    details = usage.get(field)
    return details if isinstance(details, dict) else {}


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
