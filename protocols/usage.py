"""Token usage as an upstream reports it, in one shape for every protocol."""

from __future__ import annotations

from typing import Any

import attrs

from protocols import jsoncodec


@attrs.frozen
class Usage:
    """Tokens as the serving upstream reported them (None: it did not say)."""

    input: int | None = None
    output: int | None = None
    reasoning: int | None = None
    cached: int | None = None

    @property
    def total(self) -> int:
        return (self.input or 0) + (self.output or 0)

    @classmethod
    def from_chat(cls, usage: Any) -> Usage | None:
        """A Chat Completions `usage` object; None if it is not one."""
        if not isinstance(usage, dict):
            return None
        completion = usage.get("completion_tokens_details")
        prompt = usage.get("prompt_tokens_details")
        return cls(
            _count(usage.get("prompt_tokens")),
            _count(usage.get("completion_tokens")),
            _count(completion.get("reasoning_tokens")) if isinstance(completion, dict) else None,
            _count(prompt.get("cached_tokens")) if isinstance(prompt, dict) else None,
        )

    @classmethod
    def from_responses(cls, usage: Any) -> Usage | None:
        """A Responses API `usage` object; None if it is not one."""
        if not isinstance(usage, dict):
            return None
        output = usage.get("output_tokens_details")
        inputs = usage.get("input_tokens_details")
        return cls(
            _count(usage.get("input_tokens")),
            _count(usage.get("output_tokens")),
            _count(output.get("reasoning_tokens")) if isinstance(output, dict) else None,
            _count(inputs.get("cached_tokens")) if isinstance(inputs, dict) else None,
        )


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def usage_of_body(body: bytes) -> Usage | None:
    """The usage of a whole Chat completion body, if it says."""
    if b'"usage"' not in body:
        return None
    try:
        payload = jsoncodec.loads(body)
    except ValueError:
        return None
    return Usage.from_chat(payload.get("usage")) if isinstance(payload, dict) else None
