"""Responses `tools` and `tool_choice` as Chat Completions sees them.

Only flat `function` tools have a Chat equivalent (`{"type": "function", "function": {...}}`).
Every other tool type (hosted `web_search`, `file_search`, `namespace`, `custom`, `local_shell`,
`mcp`, ...) is dropped with a note rather than refused: Codex sends some of them on every
request, and the model can still do the turn with the functions it has. The caller skips this
module altogether for a target that speaks Responses natively.

`allowed_tools` (a choice that narrows the tool list without changing it, for prompt caching)
becomes a narrowed `tools` list plus the plain mode. Chat has its own `allowed_tools` choice, but
few Chat-only upstreams know it, and a shorter tool list means the same thing everywhere.

A choice that names a dropped tool falls back to `auto` with a note; one that names a function
the request does not define is the caller's error, as it is on the Responses API.
"""

from __future__ import annotations

from typing import Any

import attrs

from protocols.responses.errors import RequestError

_MODES = ("none", "auto", "required")


@attrs.frozen
class ChatTools:
    tools: list[dict[str, Any]]
    tool_choice: str | dict[str, Any] | None
    dropped: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def translate_tools(tools: Any, tool_choice: Any) -> ChatTools:
    if tools is None:
        tools = []
    if not isinstance(tools, list):
        raise RequestError("tools", "'tools' must be an array")
    chat_tools: list[dict[str, Any]] = []
    dropped: list[str] = []
    notes: list[str] = []
    for index, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise RequestError(f"tools[{index}]", "a tool must be an object")
        if tool.get("type") == "function":
            chat_tools.append(_function_tool(tool, f"tools[{index}]"))
            continue
        label = _label(tool)
        dropped.append(label)
        notes.append(
            f"tools[{index}]: dropped {label} tool, which has no Chat Completions equivalent"
        )
    names = [tool["function"]["name"] for tool in chat_tools]
    choice, allowed = _choice(tool_choice, names, notes)
    if allowed is not None:
        chat_tools = [tool for tool in chat_tools if tool["function"]["name"] in allowed]
    if not chat_tools:
        choice = None
    return ChatTools(chat_tools, choice, tuple(dropped), tuple(notes))


def _function_tool(tool: dict[str, Any], param: str) -> dict[str, Any]:
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise RequestError(f"{param}.name", "a function tool needs a non-empty 'name'")
    function: dict[str, Any] = {"name": name}
    description = tool.get("description")
    if description is not None:
        if not isinstance(description, str):
            raise RequestError(f"{param}.description", "'description' must be a string")
        function["description"] = description
    parameters = tool.get("parameters")
    if parameters is not None:
        if not isinstance(parameters, dict):
            raise RequestError(f"{param}.parameters", "'parameters' must be a JSON Schema object")
        function["parameters"] = parameters
    strict = tool.get("strict")
    if strict is not None:
        if not isinstance(strict, bool):
            raise RequestError(f"{param}.strict", "'strict' must be a boolean")
        function["strict"] = strict
    return {"type": "function", "function": function}


def _label(tool: dict[str, Any]) -> str:
    kind = str(tool.get("type") or "untyped")
    name = tool.get("name")
    return f"{kind}:{name}" if isinstance(name, str) and name else kind


def _choice(
    choice: Any, names: list[str], notes: list[str]
) -> tuple[str | dict[str, Any] | None, set[str] | None]:
    """The Chat tool_choice, and the set of tool names it narrows the list to (None: all)."""
    if choice is None or choice in _MODES:
        return choice, None
    if not isinstance(choice, dict):
        raise RequestError("tool_choice", "'tool_choice' must be none, auto, required or an object")
    kind = choice.get("type")
    if kind == "function":
        name = choice.get("name")
        if not isinstance(name, str) or name not in names:
            raise RequestError("tool_choice.name", f"no function tool named {name!r} in 'tools'")
        return {"type": "function", "function": {"name": name}}, None
    if kind == "allowed_tools":
        return _allowed(choice, names, notes)
    notes.append(f"tool_choice: {kind} targets a dropped tool; the upstream gets 'auto'")
    return "auto", None


def _allowed(choice: dict[str, Any], names: list[str], notes: list[str]) -> tuple[str, set[str]]:
    mode = choice.get("mode")
    if mode not in ("auto", "required"):
        raise RequestError("tool_choice.mode", "'mode' must be auto or required")
    entries = choice.get("tools")
    if not isinstance(entries, list):
        raise RequestError("tool_choice.tools", "'tools' must be an array")
    allowed: set[str] = set()
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise RequestError(f"tool_choice.tools[{index}]", "an allowed tool must be an object")
        if entry.get("type") != "function":
            notes.append(f"tool_choice.tools[{index}]: {_label(entry)} is not a function; skipped")
            continue
        name = entry.get("name")
        if name not in names:
            raise RequestError(
                f"tool_choice.tools[{index}].name", f"no function tool named {name!r} in 'tools'"
            )
        allowed.add(name)
    return mode, allowed
