"""The first choice of an upstream's Chat reply, read and checked once for every translation
that turns Chat into another protocol (`protocols.responses`, `protocols.anthropic`).

A completion must have a first choice with a message whose text fields are strings or null
(`completion_choice`); a stream chunk may have no choice (a usage chunk), else its first
choice's delta is checked the same way, tool calls' arguments included (`chunk_choice`). An
in-band error (`error` with no choices, or `finish_reason: "error"`) and any other shape raise
`UpstreamReplyError`, which the edge turns into the client protocol's own error.
"""

from __future__ import annotations

from typing import Any

TEXT_FIELDS = ("content", "refusal", "reasoning_content", "reasoning")


class UpstreamReplyError(ValueError):
    """`error` is the upstream's own error object when it reported one in-band, else None."""

    def __init__(self, message: str, *, error: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.error = error


def completion_choice(completion: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The first choice of a Chat completion and its message."""
    choices = completion.get("choices")
    if completion.get("error") is not None and not choices:
        error = completion["error"]
        raise UpstreamReplyError(
            "upstream replied with an error", error=error if isinstance(error, dict) else None
        )
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise UpstreamReplyError("upstream reply has no choices")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        raise UpstreamReplyError("upstream reply's choice has no message")
    for field in TEXT_FIELDS:
        if not isinstance(message.get(field), str | None):
            raise UpstreamReplyError(f"upstream reply's message {field} is not a string")
    if choice.get("finish_reason") == "error":
        raise UpstreamReplyError("upstream ended the choice with finish_reason 'error'")
    return choice, message


def chunk_choice(chunk: Any) -> dict[str, Any] | None:
    """The first choice of a Chat chunk (None if it has none), once its shape is checked."""
    if not isinstance(chunk, dict):
        raise UpstreamReplyError("a stream chunk must be a JSON object")
    if chunk.get("error"):
        error = chunk["error"]
        raise UpstreamReplyError(
            "upstream reported an error mid-stream",
            error=error if isinstance(error, dict) else None,
        )
    choices = chunk.get("choices")
    if choices is None:  # a usage-only chunk; `choices` of another type is no chunk
        choices = []
    if not isinstance(choices, list) or not all(isinstance(c, dict) for c in choices):
        raise UpstreamReplyError("'choices' of a stream chunk must be an array of objects")
    if not choices:
        return None
    choice: dict[str, Any] = choices[0]
    if choice.get("finish_reason") == "error":
        raise UpstreamReplyError("upstream ended the choice with finish_reason 'error'")
    delta = choice.get("delta") or {}
    if not isinstance(delta, dict):
        raise UpstreamReplyError("'delta' of a stream chunk must be an object")
    if not all(isinstance(delta.get(field), str | None) for field in TEXT_FIELDS):
        raise UpstreamReplyError("text in a stream chunk's delta must be a string")
    calls = delta.get("tool_calls") or []
    if not isinstance(calls, list) or not all(_is_call(call) for call in calls):
        raise UpstreamReplyError("'tool_calls' must hold objects whose arguments are strings")
    return choice


def _is_call(call: Any) -> bool:
    function = call.get("function") if isinstance(call, dict) else None
    if function is None:
        return isinstance(call, dict)
    return isinstance(function, dict) and isinstance(function.get("arguments", ""), str | None)
