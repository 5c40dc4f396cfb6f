"""The Response object around the output: the request fields it echoes, with the API defaults.

The schema requires the echo (`instructions`, `tools`, `tool_choice`, `temperature`, ...), and
clients read some of it back. Echoed values are what the client asked for, with the Responses
API defaults filled in (`temperature` 1, `tool_choice` "auto", `store` true, ...); function
tools get the fields the schema requires (`parameters`, `strict`: null when not given, which
says truthfully that the upstream was not asked to be strict). Non-function tools are echoed as
sent, though the upstream never saw them.
`usage` is added only to a finished Response: OpenAI sends `"usage": null` in the others, which
the schema does not admit.
"""

from __future__ import annotations

from typing import Any


def request_echo(request: dict[str, Any]) -> dict[str, Any]:
    """The request-derived fields of every Response to `request`, computed once per call."""
    text = _object(request.get("text"))
    reasoning = _object(request.get("reasoning"))
    echo: dict[str, Any] = {
        "model": request.get("model"),
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "max_tool_calls": request.get("max_tool_calls"),
        "previous_response_id": request.get("previous_response_id"),
        "parallel_tool_calls": _default(request.get("parallel_tool_calls"), True),
        "temperature": _default(request.get("temperature"), 1.0),
        "top_p": _default(request.get("top_p"), 1.0),
        "tool_choice": _default(request.get("tool_choice"), "auto"),
        "tools": [_tool(tool) for tool in request.get("tools") or ()],
        "text": {
            "format": _default(text.get("format"), {"type": "text"}),
            "verbosity": _default(text.get("verbosity"), "medium"),
        },
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "store": _default(request.get("store"), True),
        "truncation": _default(request.get("truncation"), "disabled"),
        "metadata": _default(request.get("metadata"), {}),
        "background": False,
        "prompt_cache_key": request.get("prompt_cache_key"),
        "safety_identifier": request.get("safety_identifier"),
    }
    if isinstance(request.get("user"), str):
        echo["user"] = request["user"]  # the schema admits a string only, never null
    return echo


def _object(value: object) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one (so its fields read as absent)."""
    return value if isinstance(value, dict) else {}


def response_object(
    response_id: str,
    created_at: int,
    echo: dict[str, Any],
    *,
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
    incomplete_details: dict[str, Any] | None = None,
    completed_at: int | None = None,
) -> dict[str, Any]:
    response: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "completed_at": completed_at if status == "completed" else None,
        "error": error,
        "incomplete_details": incomplete_details,
        "output": output,
        **echo,
    }
    if usage is not None:
        response["usage"] = usage
    return response


def _default(value: Any, default: Any) -> Any:
    return default if value is None else value


def _tool(tool: Any) -> Any:
    if not isinstance(tool, dict) or tool.get("type") != "function":
        return tool
    return {"parameters": None, "strict": None, **tool}
