"""A Chat Completions request as an Anthropic Messages request (`kind: anthropic` upstreams).

The conversation:
- `system` and `developer` messages, wherever they stand, become the top-level `system`: one
  string (their texts joined by a blank line), or text blocks when any part carries
  `cache_control` (so the breakpoint survives). Their place in the conversation is lost: the
  Messages API has no system turn.
- `tool` messages become `tool_result` blocks (`tool_use_id` from `tool_call_id`) of a user
  turn; consecutive ones share that turn, with any user text that follows them. Inside a user
  turn the results go first, as Anthropic requires.
- An assistant's tool calls become `tool_use` blocks after its text, ids kept, `input` the
  parsed `arguments` (arguments that are not a JSON object become `{}`: the model said
  something unusable, and the conversation must still be sent). Its `reasoning_content` is
  dropped: a thinking block cannot be sent back without the signature Chat never carried.
- Anthropic wants user and assistant turns to alternate, starting with a user turn, and no turn
  to be empty: empty messages are left out, consecutive turns of one role are merged, and a
  conversation that does not open with a user turn gets `OPENING_TURN` before it. A final
  assistant turn (a prefill) loses its trailing whitespace, which Anthropic refuses there.

The parameters:
- `max_completion_tokens`, else `max_tokens`, else `default_max_tokens` (Anthropic requires
  one); `stop` becomes `stop_sequences`; `user` becomes `metadata.user_id`; `top_p`, `top_k`
  pass; `temperature` is clamped to Anthropic's 0..1 (OpenAI's range is 0..2; a clamp keeps
  0..1 meaning what it meant, where scaling would change every request). Anthropic is
  retiring these three: the `anthropic` SDK (2.17) no longer has them, newer models refuse any
  value but the default, and newer API versions refuse them outright. With `sampling=False`
  (for such models or versions) they are dropped rather than turned into a 400 that would go
  back to the client as its own fault. Given both `temperature` and `top_p`, only
  `temperature` goes: Claude's models from 4.5 on refuse the two together, and that 400 would
  reach the client as its own fault too.
- `tools` (functions) become `{name, description, input_schema}`; `tool_choice` `auto`,
  `required`, `none` and a named function become `auto`, `any`, `none` and `tool`;
  `parallel_tool_calls: false` becomes `disable_parallel_tool_use`.
- `reasoning_effort` low/medium/high turns on extended thinking with a budget of
  `THINKING_BUDGETS` tokens; `max_tokens` is raised by the budget when it does not exceed it
  (thinking counts against it). Thinking rules out some of the rest, and then the rest wins,
  because the client asked for it explicitly: a forced tool choice, or an assistant's tool
  call awaiting its results (Anthropic would want that turn's thinking block, which Chat could
  not keep), or a final assistant turn (a prefill, which Anthropic refuses with thinking on),
  turn thinking off; with thinking on, `temperature` and `top_k` are dropped and a
  `top_p` under 0.95 is dropped (Anthropic refuses them).
- `response_format` `json_schema` becomes `output_config.format` (Anthropic's structured
  outputs: the schema, its `name` and `strict` dropped). `json_object` has no counterpart and
  is dropped: a system instruction added behind the client's back would change the prompt.
- Everything else Chat-only is dropped: `n`, `stream_options`, `logprobs`, `top_logprobs`,
  `seed`, penalties, `logit_bias`, `store`, OpenAI's `metadata`, `service_tier`, `modalities`,
  `audio`, `prediction`, the legacy `functions`. `stream` is kept.
"""

from __future__ import annotations

from typing import Any

from protocols import jsoncodec
from protocols.anthropic.upstream_content import (
    Block,
    blocks_of,
    text_block,
    text_of,
    tool_result_content,
)
from protocols.errors import BadRequest

OPENING_TURN = "(continued)"  # the user turn put before a conversation that opens otherwise
THINKING_BUDGETS = {"low": 1024, "medium": 4096, "high": 16384}
MIN_THINKING_TOP_P = 0.95

Turn = dict[str, Any]


def messages_from_chat(
    payload: dict[str, Any], model: str, *, default_max_tokens: int = 8192, sampling: bool = True
) -> dict[str, Any]:
    """The Messages request for `model` that says what the Chat request `payload` says.
    `sampling`: pass `temperature`, `top_p` and `top_k` on (see the module's docstring)."""
    system, turns = _conversation(payload.get("messages"))
    request: dict[str, Any] = {"model": model, "max_tokens": _max_tokens(payload)}
    request["max_tokens"] = request["max_tokens"] or default_max_tokens
    if system:
        request["system"] = system
    request["messages"] = turns
    tools = _tools(payload.get("tools"))
    if tools:
        request["tools"] = tools
        choice = _tool_choice(payload.get("tool_choice"), payload.get("parallel_tool_calls"))
        if choice is not None:
            request["tool_choice"] = choice
    stop = payload.get("stop")
    stops = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else []
    stops = [item for item in stops if isinstance(item, str) and item]
    if stops:
        request["stop_sequences"] = stops
    for name in ("temperature", "top_p", "top_k") if sampling else ():
        value = payload.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            request[name] = min(max(value, 0), 1) if name == "temperature" else value
    if "temperature" in request and "top_p" in request:
        del request["top_p"]  # Claude 4.5 and later refuse the two together
    if isinstance(payload.get("user"), str) and payload["user"]:
        request["metadata"] = {"user_id": payload["user"]}
    _think(request, payload.get("reasoning_effort"))
    output_format = _output_format(payload.get("response_format"))
    if output_format is not None:
        request["output_config"] = {"format": output_format}
    if payload.get("stream") is True:
        request["stream"] = True
    return request


def _conversation(messages: Any) -> tuple[str | list[Block] | None, list[Turn]]:
    if not isinstance(messages, list):
        raise BadRequest("'messages' must be an array", param="messages")
    system: list[Block] = []
    turns: list[Turn] = []
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise BadRequest(f"'{where}' must be an object", param=where)
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):
            system.extend(_system_blocks(content, where))
        elif role == "user":
            _add(turns, "user", blocks_of(content, where))
        elif role == "assistant":
            blocks = blocks_of(content, where) + _tool_uses(message.get("tool_calls"), where)
            _add(turns, "assistant", blocks)
        elif role == "tool":
            result: Block = {
                "type": "tool_result",
                "tool_use_id": str(message.get("tool_call_id") or ""),
                "content": tool_result_content(content, f"{where}.content"),
            }
            _add(turns, "user", [result])
        else:
            raise BadRequest(f"'{where}.role' {role!r} cannot be sent to Anthropic", param=where)
    if not turns or turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": [text_block(OPENING_TURN)]})
    for turn in turns:
        if turn["role"] == "user":  # tool results first (a stable sort keeps the rest in order)
            turn["content"].sort(key=lambda block: block["type"] != "tool_result")
    last = turns[-1]["content"][-1]
    if turns[-1]["role"] == "assistant" and last["type"] == "text":
        last["text"] = last["text"].rstrip()
        if not last["text"]:
            turns[-1]["content"].pop()
            if not turns[-1]["content"]:
                turns.pop()
    for turn in turns:  # one plain text block reads best as the string it was
        blocks = turn["content"]
        if len(blocks) == 1 and blocks[0]["type"] == "text" and len(blocks[0]) == 2:
            turn["content"] = blocks[0]["text"]
    return _system(system), turns


def _add(turns: list[Turn], role: str, blocks: list[Block]) -> None:
    if not blocks:
        return
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"].extend(blocks)
    else:
        turns.append({"role": role, "content": blocks})


def _system_blocks(content: Any, where: str) -> list[Block]:
    if isinstance(content, list):
        return [block for block in blocks_of(content, where) if block["type"] == "text"]
    text = text_of(content, where)
    return [text_block(text)] if text else []


def _system(blocks: list[Block]) -> str | list[Block] | None:
    if not blocks:
        return None
    if any("cache_control" in block for block in blocks):
        return blocks
    return "\n\n".join(block["text"] for block in blocks)


def _tool_uses(calls: Any, where: str) -> list[Block]:
    if not isinstance(calls, list):
        return []
    blocks = []
    for index, call in enumerate(calls):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise BadRequest(f"'{where}.tool_calls[{index}]' has no function name", param=where)
        blocks.append(
            {
                "type": "tool_use",
                "id": str(call.get("id") or f"toolu_{index}"),
                "name": function["name"],
                "input": _arguments(function.get("arguments")),
            }
        )
    return blocks


def _arguments(arguments: Any) -> dict[str, Any]:
    if isinstance(arguments, dict):
        return arguments
    try:
        parsed = jsoncodec.loads(arguments) if isinstance(arguments, str) else None
    except (ValueError, RecursionError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _tools(tools: Any) -> list[Block]:
    if not isinstance(tools, list):
        return []
    translated = []
    for index, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or tool.get("type", "function") != "function":
            raise BadRequest(
                f"'tools[{index}]': only function tools can be sent to Anthropic",
                param=f"tools[{index}]",
            )
        parameters = function.get("parameters")
        block: Block = {
            "name": function.get("name"),
            "input_schema": parameters
            if isinstance(parameters, dict) and parameters
            else {"type": "object", "properties": {}},
        }
        if isinstance(function.get("description"), str) and function["description"]:
            block["description"] = function["description"]
        translated.append(block)
    return translated


def _tool_choice(choice: Any, parallel: Any) -> Block | None:
    translated: Block | None = None
    if choice == "none":
        return {"type": "none"}
    if choice == "auto":
        translated = {"type": "auto"}
    elif choice == "required":
        translated = {"type": "any"}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        translated = {"type": "tool", "name": choice["function"].get("name")}
    if parallel is False:
        translated = {"type": "auto", **(translated or {}), "disable_parallel_tool_use": True}
    return translated


def _max_tokens(payload: dict[str, Any]) -> int | None:
    for name in ("max_completion_tokens", "max_tokens"):
        value = payload.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _think(request: dict[str, Any], effort: Any) -> None:
    budget = THINKING_BUDGETS.get(effort) if isinstance(effort, str) else None
    choice = request.get("tool_choice", {}).get("type")
    if (
        budget is None
        or choice in ("any", "tool")
        or _awaiting_tool_results(request)
        or request["messages"][-1]["role"] == "assistant"  # a prefill: refused with thinking on
    ):
        return
    request["thinking"] = {"type": "enabled", "budget_tokens": budget}
    if request["max_tokens"] <= budget:
        request["max_tokens"] += budget
    request.pop("temperature", None)
    request.pop("top_k", None)
    if request.get("top_p", 1) < MIN_THINKING_TOP_P:
        del request["top_p"]


def _awaiting_tool_results(request: dict[str, Any]) -> bool:
    """The conversation ends in tool results answering the last assistant turn's tool calls."""
    turns = request["messages"]
    if len(turns) < 2 or turns[-1]["role"] != "user" or isinstance(turns[-1]["content"], str):
        return False
    return any(block["type"] == "tool_result" for block in turns[-1]["content"])


def _output_format(response_format: Any) -> Block | None:
    if not isinstance(response_format, dict) or response_format.get("type") != "json_schema":
        return None
    spec = response_format.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    if not isinstance(schema, dict):
        return None
    return {"type": "json_schema", "schema": schema}
