"""An Anthropic Messages request (`POST /v1/messages`), checked and translated to Chat.

The request is validated as the Anthropic API validates it, so a client gets the same 400 from
baton that it would get from Anthropic, with `param` naming the offending path
(`messages[2].content[0].tool_use_id`), instead of a confusing refusal from some Chat upstream.
The translation, field by field (`messages` and `tools` in `messages_turns` and
`messages_tools`):
- `system` (a string, or text blocks joined with "\\n") -> a leading `system` message;
- `max_tokens` -> `max_tokens` (a dialect renames it for upstreams that want
  `max_completion_tokens`); `stop_sequences` -> `stop`; `temperature`, `top_p` pass as they are;
- `top_k` -> `top_k`: not in OpenAI's schema, but vLLM, SGLang, llama.cpp, Ollama, Together,
  Fireworks and OpenRouter all accept it, and OpenAI ignores it where it is not known;
- `metadata.user_id` -> `user`;
- `thinking: {type: enabled, budget_tokens}` -> `reasoning_effort`: below 4096 tokens `low`,
  below 16384 `medium`, else `high` (Anthropic's own guidance calls 1024 the minimum, "16k+"
  a large budget for complex tasks); `output_config.effort` (Claude Code's effort level) takes
  precedence where given, `xhigh` and `max` being sent as `high`, which every upstream knows.
  `disabled` and `adaptive` (the model decides) send nothing: the upstream's default;
- `stream: true` -> `stream` with `stream_options.include_usage`, since a Message reports usage.
Other fields (`cache_control`, `service_tier`, `container`, `context_management`, `speed`, ...)
tune Anthropic's own service and have no Chat form: they are ignored.
"""

from __future__ import annotations

import math
from typing import Any, TypeGuard

import attrs

from protocols.anthropic.messages_content import text_of
from protocols.anthropic.messages_tools import translate_tools
from protocols.anthropic.messages_turns import chat_messages
from protocols.chat import parse_json_object, validate_model
from protocols.errors import BadRequest

MIN_THINKING_BUDGET = 1024
_EFFORTS = {"low": "low", "medium": "medium", "high": "high", "xhigh": "high", "max": "high"}


@attrs.frozen
class MessagesRequest:
    """`payload`: the client's request as sent; `chat`: the Chat Completions payload it becomes;
    `dropped_tools`: names of Anthropic-defined tools left out of `chat` (for the log)."""

    payload: dict[str, Any] = attrs.field(repr=False)
    model: str
    stream: bool
    chat: dict[str, Any] = attrs.field(repr=False)
    dropped_tools: tuple[str, ...] = ()


def parse_messages_request(body: bytes) -> MessagesRequest:
    return messages_request_from_payload(parse_json_object(body))


def messages_request_from_payload(payload: dict[str, Any]) -> MessagesRequest:
    """Raises `BadRequest` naming the offending param."""
    model = _model(payload.get("model"))
    max_tokens = payload.get("max_tokens")
    if max_tokens is None:
        raise BadRequest(
            "'max_tokens' is a required property",
            param="max_tokens",
            code="missing_required_parameter",
        )
    if not _is_int(max_tokens) or max_tokens < 1:
        raise BadRequest("'max_tokens' must be a positive integer", param="max_tokens")
    stream = payload.get("stream")
    if not isinstance(stream, bool | None):
        raise BadRequest("'stream' must be a boolean", param="stream")
    messages = chat_messages(payload.get("messages"))
    system = _system(payload.get("system"))
    if system:
        messages.insert(0, {"role": "system", "content": system})
    chat: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": max_tokens}
    tools = translate_tools(payload.get("tools"), payload.get("tool_choice"))
    if tools.tools is not None:
        chat["tools"] = tools.tools
        if tools.tool_choice is not None:
            chat["tool_choice"] = tools.tool_choice
        if tools.parallel_tool_calls is not None:
            chat["parallel_tool_calls"] = tools.parallel_tool_calls
    _sampling(payload, chat)
    effort = _reasoning_effort(payload, max_tokens)
    if effort is not None:
        chat["reasoning_effort"] = effort
    user = _user(payload.get("metadata"))
    if user is not None:
        chat["user"] = user
    response_format = _response_format(payload.get("output_config"))
    if response_format is not None:
        chat["response_format"] = response_format
    if stream:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    return MessagesRequest(
        payload=payload, model=model, stream=bool(stream), chat=chat, dropped_tools=tools.dropped
    )


def native_only_request(payload: dict[str, Any]) -> MessagesRequest:
    """A request with no Chat form (`Untranslatable`), for upstreams that speak Messages
    alone: its `chat` is only what routing reads (model, stream, `max_tokens`), never sent."""
    model = _model(payload.get("model"))
    max_tokens = payload.get("max_tokens")
    if not _is_int(max_tokens) or max_tokens < 1:
        raise BadRequest("'max_tokens' must be a positive integer", param="max_tokens")
    stream = payload.get("stream")
    if not isinstance(stream, bool | None):
        raise BadRequest("'stream' must be a boolean", param="stream")
    chat: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": ""}],
        "max_tokens": max_tokens,
        "stream": bool(stream),
    }
    return MessagesRequest(payload=payload, model=model, stream=bool(stream), chat=chat)


def _model(model: Any) -> str:
    return validate_model(model, missing="'model' is a required property")


def _system(system: Any) -> str:
    if system is None or isinstance(system, str):
        return system or ""
    if not isinstance(system, list):
        raise BadRequest("'system' must be a string or an array of text blocks", param="system")
    texts = []
    for index, block in enumerate(system):
        at = f"system[{index}]"
        if not isinstance(block, dict) or block.get("type") != "text":
            raise BadRequest(f"'{at}' must be a text block", param=f"{at}.type")
        texts.append(text_of(block, at))
    return "\n".join(texts)


def _sampling(payload: dict[str, Any], chat: dict[str, Any]) -> None:
    for name, high in (("temperature", 1.0), ("top_p", 1.0)):
        value = payload.get(name)
        if value is None:
            continue
        if not _is_number(value) or not 0 <= value <= high:
            raise BadRequest(f"'{name}' must be a number between 0 and {high:g}", param=name)
        chat[name] = value
    top_k = payload.get("top_k")
    if top_k is not None:
        if not _is_int(top_k) or top_k < 0:
            raise BadRequest("'top_k' must be a non-negative integer", param="top_k")
        chat["top_k"] = top_k
    stops = payload.get("stop_sequences")
    if stops is not None:
        if not isinstance(stops, list) or not all(isinstance(stop, str) for stop in stops):
            raise BadRequest("'stop_sequences' must be an array of strings", param="stop_sequences")
        if stops:
            chat["stop"] = stops


def _reasoning_effort(payload: dict[str, Any], max_tokens: int) -> str | None:
    effort = None
    thinking = payload.get("thinking")
    if thinking is not None:
        if not isinstance(thinking, dict):
            raise BadRequest("'thinking' must be an object", param="thinking")
        kind = thinking.get("type")
        if kind == "enabled":
            budget = thinking.get("budget_tokens")
            if not _is_int(budget) or budget < MIN_THINKING_BUDGET:
                raise BadRequest(
                    f"'thinking.budget_tokens' must be an integer >= {MIN_THINKING_BUDGET}",
                    param="thinking.budget_tokens",
                )
            # no `budget < max_tokens` check: with interleaved thinking (a beta Claude Code
            # sends) Anthropic allows a budget past max_tokens; the upstream judges it
            effort = "low" if budget < 4096 else "medium" if budget < 16384 else "high"
        elif kind not in ("disabled", "adaptive"):
            raise BadRequest(
                "'thinking.type' must be one of enabled, disabled, adaptive",
                param="thinking.type",
            )
    config = payload.get("output_config")
    if isinstance(config, dict) and config.get("effort") is not None:
        if config["effort"] not in _EFFORTS:
            raise BadRequest(
                f"'output_config.effort' must be one of {', '.join(_EFFORTS)}",
                param="output_config.effort",
            )
        effort = _EFFORTS[config["effort"]]
    return effort


def _response_format(config: Any) -> dict[str, Any] | None:
    """`output_config.format` (Anthropic's structured outputs: a JSON Schema the answer must
    follow) as Chat's `response_format`, so the schema holds on a Chat upstream too."""
    if not isinstance(config, dict) or config.get("format") is None:
        return None
    fmt = config["format"]
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        raise BadRequest(
            "'output_config.format.type' must be 'json_schema'", param="output_config.format"
        )
    schema = fmt.get("schema")
    if not isinstance(schema, dict):
        raise BadRequest(
            "'output_config.format.schema' must be an object", param="output_config.format"
        )
    return {"type": "json_schema", "json_schema": {"name": "output", "schema": schema}}


def _user(metadata: Any) -> str | None:
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise BadRequest("'metadata' must be an object", param="metadata")
    user = metadata.get("user_id")
    if not isinstance(user, str | None):
        raise BadRequest("'metadata.user_id' must be a string", param="metadata.user_id")
    return user or None


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
