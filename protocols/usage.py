"""Token usage as an upstream reports it, in one shape for every protocol.

Chat Completions says `prompt_tokens` / `completion_tokens`, with the cached part of the prompt
in `prompt_tokens_details.cached_tokens` (DeepSeek: `prompt_cache_hit_tokens`) and the reasoning
part of the completion in `completion_tokens_details.reasoning_tokens`. The Responses API says
`input_tokens` / `output_tokens` with `input_tokens_details` / `output_tokens_details`. In both,
cached tokens are part of the input and reasoning tokens part of the output.

Usage comes from upstreams, so reading it never raises: a field that is missing, null, negative
or not a whole number reads as None ("the upstream did not say"), and an object that is not a
mapping reads as `Usage()`. Where it is found:
- a whole Chat completion: its `usage`;
- a Chat stream chunk: its `usage` (OpenAI's last chunk with `choices: []` when asked for with
  `stream_options.include_usage`, or on a chunk that also carries choices), else Groq's
  `x_groq.usage` on its last chunk;
- a Response object: its `usage`; a Responses stream: the `response` of its terminal event
  (`response.completed`, `response.incomplete`, `response.failed`).
"""

from __future__ import annotations

import math
from typing import Any

import attrs

from protocols import jsoncodec

TERMINAL_RESPONSE_EVENTS = frozenset(
    {"response.completed", "response.incomplete", "response.failed"}
)


@attrs.frozen
class Usage:
    """Tokens as the serving upstream reported them (None: it did not say). `cached` is part of
    `input`, `reasoning` part of `output`."""

    input: int | None = None
    output: int | None = None
    reasoning: int | None = None
    cached: int | None = None

    @property
    def total(self) -> int:
        return (self.input or 0) + (self.output or 0)

    @property
    def known(self) -> bool:
        """The upstream said something (at least one count)."""
        return attrs.astuple(self) != (None, None, None, None)

    @classmethod
    def from_chat(cls, usage: Any) -> Usage:
        """A Chat Completions `usage` object."""
        if not isinstance(usage, dict):
            return cls()
        cached = _count(_detail(usage, "prompt_tokens_details", "cached_tokens"))
        if cached is None:
            cached = _count(usage.get("prompt_cache_hit_tokens"))
        return cls(
            input=_count(usage.get("prompt_tokens")),
            output=_count(usage.get("completion_tokens")),
            reasoning=_count(_detail(usage, "completion_tokens_details", "reasoning_tokens")),
            cached=cached,
        )

    @classmethod
    def from_responses(cls, usage: Any) -> Usage:
        """A Responses API `usage` object."""
        if not isinstance(usage, dict):
            return cls()
        return cls(
            input=_count(usage.get("input_tokens")),
            output=_count(usage.get("output_tokens")),
            reasoning=_count(_detail(usage, "output_tokens_details", "reasoning_tokens")),
            cached=_count(_detail(usage, "input_tokens_details", "cached_tokens")),
        )


def usage_of_completion(reply: Any) -> Usage | None:
    """The usage of a decoded Chat completion; None when it has none."""
    if not isinstance(reply, dict) or not isinstance(reply.get("usage"), dict):
        return None
    return Usage.from_chat(reply["usage"])


def usage_of_completion_body(body: bytes) -> Usage | None:
    """The usage of a Chat completion body as the upstream sent it; None when it has none or is
    not JSON. Bodies without the word are not decoded."""
    if b'"usage"' not in body:
        return None
    try:
        reply = jsoncodec.loads(body)
    except (ValueError, RecursionError):
        return None
    return usage_of_completion(reply)


def usage_of_chunk(chunk: Any) -> Usage | None:
    """The usage a decoded Chat stream chunk carries: its `usage`, else Groq's `x_groq.usage`;
    None when it carries none (OpenAI sends `"usage": null` on every chunk but the last)."""
    if not isinstance(chunk, dict):
        return None
    usage = chunk.get("usage")
    if isinstance(usage, dict):
        return Usage.from_chat(usage)
    extension = chunk.get("x_groq")
    if isinstance(extension, dict) and isinstance(extension.get("usage"), dict):
        return Usage.from_chat(extension["usage"])
    return None


def usage_of_response(response: Any) -> Usage | None:
    """The usage of a decoded Response object; None when it has none."""
    if not isinstance(response, dict) or not isinstance(response.get("usage"), dict):
        return None
    return Usage.from_responses(response["usage"])


def usage_of_response_event(event: Any) -> Usage | None:
    """The usage a decoded Responses stream event carries: only a terminal event's Response
    has one (the others say `"usage": null`)."""
    if not isinstance(event, dict) or event.get("type") not in TERMINAL_RESPONSE_EVENTS:
        return None
    return usage_of_response(event.get("response"))


def _detail(usage: dict[str, Any], field: str, name: str) -> Any:
    details = usage.get(field)
    return details.get(name) if isinstance(details, dict) else None


def _count(value: Any) -> int | None:
    """A token count: a whole number >= 0 (`12.0` too), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and math.isfinite(value) and value >= 0 and value.is_integer():
        return int(value)
    return None
