"""What a request needs of the model that serves it, read off the request alone: whether it
offers tools, sends images, asks for `json_schema` output, is an embeddings request, and
about how many tokens its prompt is. The walk compares this with what the model catalog
knows of each candidate (`actors.capabilities`) and passes over those that cannot take it.

The prompt size is an estimate from the request's own bytes (`PROMPT_BYTES_PER_TOKEN`, a
little under what English and code average, so it errs towards "fits"): a candidate is only
passed over when the prompt is clearly over its context window, since a wrong skip costs a
working answer while a wrong try costs one refused attempt.
"""

from __future__ import annotations

from typing import Any

import attrs

PROMPT_BYTES_PER_TOKEN = 4.5  # the estimate errs towards fewer tokens: towards trying


@attrs.frozen
class Needs:
    tools: bool = False
    vision: bool = False
    json_schema: bool = False
    embeddings: bool = False
    prompt_tokens: int = 0  # estimated


def needs_of_chat(payload: dict[str, Any], size: int) -> Needs:
    """What a Chat request (Responses and Messages ones are translated to Chat) needs."""
    tools = bool(payload.get("tools")) or bool(payload.get("functions"))
    response_format = payload.get("response_format")
    json_schema = isinstance(response_format, dict) and response_format.get("type") == (
        "json_schema"
    )
    messages = payload.get("messages")
    vision = isinstance(messages, list) and any(_has_image(message) for message in messages)
    return Needs(
        tools=tools,
        vision=vision,
        json_schema=json_schema,
        prompt_tokens=int(size / PROMPT_BYTES_PER_TOKEN),
    )


def needs_of_embeddings(size: int) -> Needs:
    return Needs(embeddings=True, prompt_tokens=int(size / PROMPT_BYTES_PER_TOKEN))


def _has_image(message: Any) -> bool:
    if not isinstance(message, dict):
        return False
    content = message.get("content")
    if not isinstance(content, list):
        return False
    return any(
        isinstance(part, dict) and part.get("type") in ("image_url", "input_image", "image")
        for part in content
    )
