"""What a native Anthropic upstream sends, for fake `kind: anthropic` upstreams in tests:
a whole Message, and the same answer as Anthropic's event stream (thinking with its
signature, text, a tool call whose input arrives in pieces), modelled on Anthropic's docs."""

from __future__ import annotations

import json
from typing import Any

from edge.simulator import Garbage, Reply, SimRequest
from protocols import sse

UPSTREAM_ID = "msg_upstream_01"
SIGNATURE = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"


def message(
    text: str,
    *,
    thinking: str | None = None,
    tool: dict[str, Any] | None = None,
    model: str = "claude-up",
) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if thinking is not None:
        content.append({"type": "thinking", "thinking": thinking, "signature": SIGNATURE})
    content.append({"type": "text", "text": text})
    if tool is not None:
        content.append({"type": "tool_use", **tool})
    return {
        "id": UPSTREAM_ID,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "tool_use" if tool is not None else "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 21,
            "output_tokens": 9,
            "cache_read_input_tokens": 4,
            "cache_creation_input_tokens": 0,
        },
    }


def events(
    text: str,
    *,
    thinking: str | None = None,
    tool: dict[str, Any] | None = None,
    cut: bool = False,
) -> bytes:
    """The stream of `message(...)`; `cut`: it stops after the first text delta."""
    whole = message(text, thinking=thinking, tool=tool)
    start = {**whole, "content": [], "stop_reason": None}
    start["usage"] = {**whole["usage"], "output_tokens": 1}
    out: list[dict[str, Any]] = [{"type": "message_start", "message": start}, {"type": "ping"}]
    index = 0
    if thinking is not None:
        out += [
            {
                "type": "content_block_start",
                "index": index,
                "content_block": {"type": "thinking", "thinking": "", "signature": ""},
            },
            {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "thinking_delta", "thinking": thinking},
            },
            {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "signature_delta", "signature": SIGNATURE},
            },
            {"type": "content_block_stop", "index": index},
        ]
        index += 1
    half = len(text) // 2
    out += [
        {
            "type": "content_block_start",
            "index": index,
            "content_block": {"type": "text", "text": ""},
        },
        {
            "type": "content_block_delta",
            "index": index,
            "delta": {"type": "text_delta", "text": text[:half]},
        },
    ]
    if cut:
        return _framed(out)
    out += [
        {
            "type": "content_block_delta",
            "index": index,
            "delta": {"type": "text_delta", "text": text[half:]},
        },
        {"type": "content_block_stop", "index": index},
    ]
    if tool is not None:
        index += 1
        arguments = json.dumps(tool["input"])
        out.append(
            {
                "type": "content_block_start",
                "index": index,
                "content_block": {
                    "type": "tool_use",
                    "id": tool["id"],
                    "name": tool["name"],
                    "input": {},
                },
            }
        )
        for start_at in range(0, len(arguments), 5):
            piece = arguments[start_at : start_at + 5]
            out.append(
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": piece},
                }
            )
        out.append({"type": "content_block_stop", "index": index})
    out += [
        {
            "type": "message_delta",
            "delta": {"stop_reason": whole["stop_reason"], "stop_sequence": None},
            "usage": {"output_tokens": 9},
        },
        {"type": "message_stop"},
    ]
    return _framed(out)


def _framed(items: list[dict[str, Any]]) -> bytes:
    return b"".join(sse.encode_event(item["type"], json.dumps(item)) for item in items)


def error_body(error_type: str, text: str) -> bytes:
    return json.dumps({"type": "error", "error": {"type": error_type, "message": text}}).encode()


def native_reply(text: str, **options: Any) -> Any:
    """A script: a Messages request gets `text` (streamed if asked); anything else a 400, so a
    test sees at once if baton sent a kind: anthropic upstream the wrong protocol."""

    def script(request: SimRequest) -> Reply:
        if not request.path.endswith("/messages"):
            return Garbage(error_body("invalid_request_error", "not a Messages path"), status=400)
        if request.stream:
            return Garbage(events(text, **options), content_type="text/event-stream")
        body = json.dumps(message(text, **options)).encode()
        return Garbage(body, content_type="application/json")

    return script
