"""Anthropic `tools` and `tool_choice` as Chat Completions sees them.

A custom tool (`type` absent or `"custom"`) becomes a Chat function:
`{"type": "function", "function": {"name", "description", "parameters": input_schema}}`. Its
`input_schema` must be a JSON Schema object with `type: "object"`, as Anthropic demands.

Every other tool type is an Anthropic-defined tool (`web_search_20250305`, `bash_20250124`,
`text_editor_...`, `computer_...`, `code_execution_...`, `memory_...`): either a server tool that
runs inside Anthropic's API, or a client tool whose schema only Anthropic's models know. No Chat
upstream can run the first or be told the second, so they are dropped (their names are reported
in `dropped`, for the log) rather than refused: the model can still do the turn with the
functions it has, and a client such as Claude Code adds such tools to requests on its own.

`tool_choice`: `auto` -> `"auto"`, `any` -> `"required"`, `tool` -> the named function, `none`
-> `"none"`; `disable_parallel_tool_use: true` -> `parallel_tool_calls: false`. A choice goes
upstream only with a non-empty tool list, which OpenAI requires. A `tool` choice that names a
dropped tool falls back to `auto`; one that names no tool of the request is the caller's error,
as it is on Anthropic.
"""

from __future__ import annotations

from typing import Any

import attrs

from protocols.errors import BadRequest

_CHOICES = {"auto": "auto", "any": "required", "none": "none"}


@attrs.frozen
class ChatTools:
    """What to set on the Chat request: `tools`, `tool_choice`, `parallel_tool_calls` (each
    None: leave it out), and the names of the tools that were dropped."""

    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    dropped: tuple[str, ...] = ()


def translate_tools(tools: Any, tool_choice: Any) -> ChatTools:
    functions, dropped = _functions(tools)
    choice, parallel = _choice(tool_choice)
    if not functions:
        return ChatTools(dropped=dropped)
    names = {function["function"]["name"] for function in functions}
    if isinstance(choice, dict) and choice["function"]["name"] not in names:
        if choice["function"]["name"] not in dropped:
            raise BadRequest(
                f"tool_choice names the tool {choice['function']['name']!r}, which is not in "
                "'tools'",
                param="tool_choice.name",
            )
        choice = "auto"
    return ChatTools(
        tools=functions, tool_choice=choice, parallel_tool_calls=parallel, dropped=dropped
    )


def _functions(tools: Any) -> tuple[list[dict[str, Any]], tuple[str, ...]]:
    if tools is None:
        return [], ()
    if not isinstance(tools, list):
        raise BadRequest("'tools' must be an array", param="tools")
    functions: list[dict[str, Any]] = []
    dropped: list[str] = []
    for index, tool in enumerate(tools):
        at = f"tools[{index}]"
        if not isinstance(tool, dict):
            raise BadRequest(f"'{at}' must be an object", param=at)
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise BadRequest(f"'{at}.name' must be a non-empty string", param=f"{at}.name")
        kind = tool.get("type")
        if kind not in (None, "custom"):
            if not isinstance(kind, str):
                raise BadRequest(f"'{at}.type' must be a string", param=f"{at}.type")
            dropped.append(name)
            continue
        schema = tool.get("input_schema")
        if not isinstance(schema, dict):
            raise BadRequest(f"'{at}.input_schema' must be an object", param=f"{at}.input_schema")
        if schema.get("type") != "object":
            raise BadRequest(
                f"'{at}.input_schema.type' must be 'object'", param=f"{at}.input_schema.type"
            )
        function: dict[str, Any] = {"name": name}
        description = tool.get("description")
        if description is not None:
            if not isinstance(description, str):
                raise BadRequest(f"'{at}.description' must be a string", param=f"{at}.description")
            function["description"] = description
        function["parameters"] = schema
        functions.append({"type": "function", "function": function})
    return functions, tuple(dropped)


def _choice(tool_choice: Any) -> tuple[str | dict[str, Any] | None, bool | None]:
    if tool_choice is None:
        return None, None
    if not isinstance(tool_choice, dict):
        raise BadRequest("'tool_choice' must be an object", param="tool_choice")
    kind = tool_choice.get("type")
    parallel = tool_choice.get("disable_parallel_tool_use")
    if not isinstance(parallel, bool | None):
        raise BadRequest(
            "'tool_choice.disable_parallel_tool_use' must be a boolean",
            param="tool_choice.disable_parallel_tool_use",
        )
    choice: str | dict[str, Any]
    if kind == "tool":
        name = tool_choice.get("name")
        if not isinstance(name, str) or not name:
            raise BadRequest(
                "'tool_choice.name' must be a non-empty string", param="tool_choice.name"
            )
        choice = {"type": "function", "function": {"name": name}}
    elif kind in _CHOICES:
        choice = _CHOICES[kind]
    else:
        raise BadRequest(
            "'tool_choice.type' must be one of auto, any, tool, none", param="tool_choice.type"
        )
    return choice, (False if parallel else None)
