"""A Responses `CreateResponse` body as a Chat Completions request body.

`responses_to_chat` is pure: stored items reach it through `resolve_item(id)` (for
`item_reference`) and `history` (for `previous_response_id`: the caller loads the earlier
response and passes `history_items(its input, its output)`; since that stored input already
holds its own history, chains of any length compose). Instructions of earlier responses are not
carried over, as on the Responses API.

Field by field: `instructions` becomes a leading `system` message; `max_output_tokens` becomes
`max_completion_tokens` (a dialect renames it to `max_tokens` for upstreams that need it);
`text.format` becomes `response_format` (the flat `json_schema` nested under `json_schema`),
`text.verbosity` becomes `verbosity`, `reasoning.effort` becomes `reasoning_effort`;
`temperature`, `top_p`, `user`, `safety_identifier`, `prompt_cache_key` pass through;
`stream: true` also asks for `stream_options.include_usage`, since a Response reports usage.
`store` and `metadata` describe the Response the gateway keeps, so they stay here (an upstream
`store` would mean the provider keeps a copy). `tool_choice` and `parallel_tool_calls` go only
with a non-empty tool list, which OpenAI requires. Parameters with no Chat form are refused when
ignoring them would change the answer (`background`, `prompt`, `conversation`), else noted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from protocols.responses.errors import RequestError
from protocols.responses.items import Item, MessageBuilder, Resolver, expand_input
from protocols.responses.tools import translate_tools

_PASSED = ("temperature", "top_p", "user", "safety_identifier", "prompt_cache_key")
_NOTED = ("max_tool_calls", "top_logprobs")


@attrs.frozen
class ChatTranslation:
    """`chat`: the upstream body. `items`: history plus this input with references resolved,
    what to store as this response's input. `notes`: what was dropped or ignored, to log."""

    chat: dict[str, Any]
    items: tuple[Item, ...]
    dropped_tools: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def history_items(
    previous_input: str | Sequence[Item], previous_output: Sequence[Item]
) -> list[Item]:
    """The items a `previous_response_id` stands for: that response's input, then its output."""
    earlier = previous_input if isinstance(previous_input, str) else list(previous_input)
    return [*expand_input(earlier, "previous_response_id", None), *previous_output]


def responses_to_chat(
    request: dict[str, Any],
    *,
    resolve_item: Resolver | None = None,
    history: Sequence[Item] = (),
    keep_reasoning: bool = False,
) -> ChatTranslation:
    """Raises `RequestError` naming the offending param. `keep_reasoning` hands earlier
    reasoning back as `reasoning_content`, for upstreams that want it (see `items`)."""
    model = request.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError("model", "'model' must be a non-empty string")
    for name in ("background", "prompt", "conversation"):
        if request.get(name):
            raise RequestError(name, f"'{name}' is not supported by this gateway")
    notes: list[str] = [f"ignored {name}" for name in _NOTED if request.get(name) is not None]
    if request.get("truncation") == "auto":
        notes.append("ignored truncation=auto: an overlong input fails instead")

    inputs = expand_input(request.get("input"), "input", resolve_item)
    builder = MessageBuilder(keep_reasoning=keep_reasoning)
    for item in history:
        builder.add(item, "previous_response_id")
    for index, item in enumerate(inputs):
        builder.add(item, f"input[{index}]" if isinstance(request.get("input"), list) else "input")
    messages = builder.build()
    if not messages:
        raise RequestError("input", "'input' is empty")
    instructions = request.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise RequestError("instructions", "'instructions' must be a string")
        messages.insert(0, {"role": "system", "content": instructions})

    chat: dict[str, Any] = {"model": model, "messages": messages}
    tools = translate_tools(request.get("tools"), request.get("tool_choice"))
    if tools.tools:
        chat["tools"] = tools.tools
        if tools.tool_choice is not None:
            chat["tool_choice"] = tools.tool_choice
        if request.get("parallel_tool_calls") is not None:
            chat["parallel_tool_calls"] = bool(request["parallel_tool_calls"])
    _limits(request, chat)
    _text(request.get("text"), chat)
    reasoning = request.get("reasoning")
    if isinstance(reasoning, dict) and reasoning.get("effort") is not None:
        chat["reasoning_effort"] = reasoning["effort"]
    if request.get("stream"):
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    return ChatTranslation(
        chat=chat,
        items=(*history, *inputs),
        dropped_tools=tools.dropped,
        notes=(*tools.notes, *builder.notes, *notes),
    )


def _limits(request: dict[str, Any], chat: dict[str, Any]) -> None:
    limit = request.get("max_output_tokens")
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise RequestError(
                "max_output_tokens", "'max_output_tokens' must be a positive integer"
            )
        chat["max_completion_tokens"] = limit
    for name in _PASSED:
        if request.get(name) is not None:
            chat[name] = request[name]


def _text(text: Any, chat: dict[str, Any]) -> None:
    if text is None:
        return
    if not isinstance(text, dict):
        raise RequestError("text", "'text' must be an object")
    if text.get("verbosity") is not None:
        chat["verbosity"] = text["verbosity"]
    form = text.get("format")
    if form is None:
        return
    kind = form.get("type") if isinstance(form, dict) else None
    if kind == "text":
        return  # the default everywhere; some upstreams refuse an explicit one
    if kind == "json_object":
        chat["response_format"] = {"type": "json_object"}
    elif kind == "json_schema":
        if not isinstance(form.get("name"), str) or not isinstance(form.get("schema"), dict):
            raise RequestError("text.format", "a json_schema format needs 'name' and 'schema'")
        schema = {
            key: form[key]
            for key in ("name", "description", "schema", "strict")
            if form.get(key) is not None
        }
        chat["response_format"] = {"type": "json_schema", "json_schema": schema}
    else:
        raise RequestError("text.format.type", f"unknown text format {kind!r}")
