"""How many input tokens a Chat Completions request costs, counted as its upstream counts them.

`count_chat_input(payload)` answers `POST /v1/responses/input_tokens` (the route translates the
Responses body to Chat first, so both APIs count the same way). Text is encoded with the
model's own tiktoken encoding (see `token_encodings`); models whose tokenizer baton does not
ship get o200k_base, and their count is an approximation.

OpenAI's chat format wraps every message as `<|start|>{role}<|message|>{content}<|end|>`, and
primes the reply with `<|start|>assistant<|message|>`. Hence, per OpenAI's cookbook ("How to
count tokens with tiktoken", whose counts match the API's `prompt_tokens`):
- 3 tokens per message, plus its role and its content;
- a `name` costs its own tokens plus 1;
- 3 tokens for the reply primer, once.
On top of that, what the model reads but the cookbook leaves out:
- `tools` (and the legacy `functions`) are read as a TypeScript namespace in the system prompt
  (`tool_typescript`). That rendering costs one token more than the API counted for the
  cookbook's tool example, on gpt-4o and gpt-4 alike, so one token is taken off;
- a `json_schema` `response_format` is read as a `# Response Formats` section;
- an assistant's `tool_calls` cost each call's name and arguments plus 3 (harmony renders each
  call as a message of its own); `reasoning_content` and `refusal` cost their text;
- content parts: text parts their text, `image_url` parts per `image_tokens`. Audio and file
  parts are not counted: their cost depends on decoding them, which the gateway does not do.
Ids (`tool_call_id`, a call's `id`) are routing data, not prompt text, and cost nothing;
neither do sampling parameters or `tool_choice`.

`count_tokens(model, chat=... | text=...)` is the one counter the routes use: the count, and
whether it is exact (the model's own encoding is shipped: `token_encodings.known_encoding_name`)
or an o200k_base estimate, and the encoding it was counted in. Plain `text` is its tokens alone,
no message framing.

A payload that is no Chat request (no `messages`, a message that is not an object, content of
the wrong type) raises `BadRequest` naming the offending param, as the upstream would refuse it.
"""

from __future__ import annotations

from typing import Any

import attrs
import tiktoken

from protocols.errors import BadRequest
from protocols.image_tokens import image_tokens
from protocols.token_encodings import encoding_name, known_encoding_name, load_encoding
from protocols.tool_typescript import render_response_format, render_tools

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMER = 3
TOKENS_PER_TOOL_CALL = 3
TOOLS_CORRECTION = -1  # the namespace as rendered vs the API's count for it (see above)
_TEXT_FIELDS = ("reasoning_content", "refusal")


@attrs.frozen
class TokenCount:
    tokens: int
    exact: bool  # counted with the model's own encoding; else an o200k_base estimate
    encoding: str


def count_tokens(
    model: str, *, chat: dict[str, Any] | None = None, text: str | None = None
) -> TokenCount:
    """`chat` (a Chat request, counted as `model` would read it) or else `text`, in `model`'s
    tokens. Loading an encoding the first time takes up to a second: run it off the loop."""
    name = encoding_name(model)
    if chat is not None:
        if not isinstance(chat, dict):
            raise BadRequest("the request body must be a JSON object")
        tokens = count_chat_input({**chat, "model": model})
    else:
        tokens = _count(load_encoding(name), text or "")
    return TokenCount(tokens, known_encoding_name(model) is not None, name)


def count_chat_input(payload: dict[str, Any]) -> int:
    """Input tokens of the Chat request `payload` for the upstream model it names."""
    if not isinstance(payload, dict):
        raise BadRequest("the request body must be a JSON object")
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty array", param="messages")
    encoding = load_encoding(encoding_name(payload.get("model")))
    total = REPLY_PRIMER
    for index, message in enumerate(messages):
        total += _message(encoding, message, f"messages[{index}]")
    tools = _tools(payload)
    if tools:
        total += _count(encoding, render_tools(tools)) + TOOLS_CORRECTION
    total += _count(encoding, render_response_format(payload.get("response_format")))
    return total


def _message(encoding: tiktoken.Encoding, message: Any, where: str) -> int:
    if not isinstance(message, dict):
        raise BadRequest("a message must be an object", param=where)
    role = message.get("role")
    if not isinstance(role, str) or not role:
        raise BadRequest("a message needs a 'role'", param=f"{where}.role")
    total = TOKENS_PER_MESSAGE + _count(encoding, role)
    total += _content(encoding, message.get("content"), f"{where}.content")
    name = message.get("name")
    if isinstance(name, str) and name:
        total += _count(encoding, name) + TOKENS_PER_NAME
    for field in _TEXT_FIELDS:
        text = message.get(field)
        if isinstance(text, str):
            total += _count(encoding, text)
    calls = message.get("tool_calls")
    if isinstance(calls, list):
        total += sum(_call(encoding, call) for call in calls)
    legacy_call = message.get("function_call")
    if isinstance(legacy_call, dict):
        total += _call(encoding, {"function": legacy_call})
    return total


def _content(encoding: tiktoken.Encoding, content: Any, where: str) -> int:
    if content is None:
        return 0
    if isinstance(content, str):
        return _count(encoding, content)
    if not isinstance(content, list):
        raise BadRequest("'content' must be a string or an array of parts", param=where)
    total = 0
    for index, part in enumerate(content):
        if not isinstance(part, dict):
            raise BadRequest("a content part must be an object", param=f"{where}[{index}]")
        total += _part(encoding, part)
    return total


def _part(encoding: tiktoken.Encoding, part: dict[str, Any]) -> int:
    kind = part.get("type")
    if kind == "image_url":
        image = part.get("image_url")
        if isinstance(image, str):
            return image_tokens(image)
        if isinstance(image, dict) and isinstance(image.get("url"), str):
            return image_tokens(image["url"], image.get("detail"))
        return 0
    text = part.get("refusal" if kind == "refusal" else "text")
    return _count(encoding, text) if isinstance(text, str) else 0


def _call(encoding: tiktoken.Encoding, call: Any) -> int:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict):
        return 0
    total = TOKENS_PER_TOOL_CALL
    for field in ("name", "arguments"):
        value = function.get(field)
        if isinstance(value, str):
            total += _count(encoding, value)
    return total


def _tools(payload: dict[str, Any]) -> list[dict[str, Any]]:
    tools = payload.get("tools")
    found = [tool for tool in tools if isinstance(tool, dict)] if isinstance(tools, list) else []
    functions = payload.get("functions")  # the deprecated form of function tools
    if isinstance(functions, list):
        found += [{"type": "function", "function": f} for f in functions if isinstance(f, dict)]
    return found


def _count(encoding: tiktoken.Encoding, text: str) -> int:
    """Tokens of `text` as ordinary text: a literal `<|endoftext|>` in a prompt is just text."""
    return len(encoding.encode_ordinary(text)) if text else 0
