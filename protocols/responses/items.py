"""Responses input items as Chat Completions messages.

The mapping, item by item:
- `message`: `user` keeps its parts (`input_text` -> `text`, `input_image` -> `image_url`,
  `input_file` -> `file`), collapsed to one string when all are text, since several Chat-only
  upstreams take nothing but strings; `system` and `developer` become `system` with text only
  (Chat-only upstreams and open-model chat templates predate `developer` and refuse or misrender
  it; OpenAI treats `system` as `developer` for reasoning models, so nothing is lost there);
  `assistant` (`output_text`, `refusal`) becomes assistant text. Text parts join with "\\n", as
  vLLM joins text parts for string-only chat templates.
- `function_call` becomes a `tool_calls` entry, its `call_id` the Chat `id`. Calls that follow an
  assistant message, or each other, join that one assistant message: Responses spreads one Chat
  turn (text, then calls) over several items, and some templates refuse two assistant turns in a
  row. `function_call_output` becomes a `tool` message; its text parts join, other parts are
  dropped with a note (a Chat tool message holds text only).
- `reasoning` is dropped by default, with a note. Chat has no standard field for earlier
  reasoning, `encrypted_content` means nothing to another model, and strict upstreams (OpenAI,
  Groq) refuse unknown message fields. Upstreams that want it back (DeepSeek and Kimi in
  thinking mode with tools) get it with `keep_reasoning=True`: the text (raw `content` if any,
  else the summary) rides on the next assistant message as `reasoning_content`.
- `item_reference` is resolved by the caller's `resolve_item(id)`; an unknown id is an error.
- Any other item type (hosted tool calls, `custom_tool_call`, `compaction`, ...) is dropped with
  a note: it records a tool the Chat upstream never had.
Every `function_call` must be answered by a later `function_call_output` with its `call_id`, and
every output must answer an earlier call, as the Responses API itself demands; Chat upstreams
refuse either kind of orphan with a far less useful message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from protocols.responses.errors import RequestError

Item = dict[str, Any]
Resolver = Callable[[str], Item | None]

_IMAGE_DETAIL = {"auto": "auto", "low": "low", "high": "high", "original": "high"}


def expand_input(value: Any, param: str, resolve_item: Resolver | None) -> list[Item]:
    """`input` as a list of items: a string becomes one user message, references are resolved."""
    if value is None:
        return []
    if isinstance(value, str):
        return [user_text_item(value)]
    if not isinstance(value, list):
        raise RequestError(param, f"'{param}' must be a string or an array of items")
    items: list[Item] = []
    for index, item in enumerate(value):
        where = f"{param}[{index}]"
        if not isinstance(item, dict):
            raise RequestError(where, "an input item must be an object")
        if item.get("type") == "item_reference":
            item = _resolve(item, where, resolve_item)
        items.append(item)
    return items


def user_text_item(text: str) -> Item:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def _resolve(reference: Item, where: str, resolve_item: Resolver | None) -> Item:
    item_id = reference.get("id")
    if not isinstance(item_id, str) or not item_id:
        raise RequestError(f"{where}.id", "an item_reference needs an 'id'")
    item = resolve_item(item_id) if resolve_item is not None else None
    if item is None:
        raise RequestError(f"{where}.id", f"no stored item with id {item_id!r}")
    if item.get("type") == "item_reference":
        raise RequestError(f"{where}.id", f"item {item_id!r} is itself a reference")
    return item


@attrs.define
class MessageBuilder:
    """Turns items into Chat messages in order; `build` checks the call/output pairing."""

    keep_reasoning: bool = False
    messages: list[dict[str, Any]] = attrs.field(factory=list)
    notes: list[str] = attrs.field(factory=list)
    _open: dict[str, Any] | None = None  # the assistant message tool calls may still join
    _reasoning: list[str] = attrs.field(factory=list)
    _dropped_reasoning: int = 0
    _unanswered: dict[str, str] = attrs.field(factory=dict)  # call_id -> param of the call

    def add(self, item: Item, where: str) -> None:
        kind = item.get("type", "message" if "role" in item else None)
        if kind == "message":
            self._message(item, where)
        elif kind == "function_call":
            self._call(item, where)
        elif kind == "function_call_output":
            self._output(item, where)
        elif kind == "reasoning":
            self._add_reasoning(item)
        elif isinstance(kind, str) and kind:
            self.notes.append(f"{where}: dropped {kind} item, which has no Chat Completions form")
        else:
            raise RequestError(f"{where}.type", "an input item needs a 'type'")

    def build(self) -> list[dict[str, Any]]:
        if self._unanswered:
            call_id, where = next(iter(self._unanswered.items()))
            raise RequestError(where, f"no function_call_output answers call_id {call_id!r}")
        if self._dropped_reasoning:
            self.notes.append(
                f"dropped {self._dropped_reasoning} reasoning item(s): Chat Completions has no "
                "field for earlier reasoning"
            )
        return self.messages

    def _message(self, item: Item, where: str) -> None:
        role = item.get("role")
        content = item.get("content")
        if role == "assistant":
            texts = _texts(content, where, ("output_text", "input_text", "refusal"))
            self._assistant("\n".join(texts))
            return
        if role in ("system", "developer"):
            text = "\n".join(_texts(content, where, ("input_text",)))
            self._append({"role": "system", "content": text})
        elif role == "user":
            self._append({"role": "user", "content": _user_content(content, where)})
        else:
            raise RequestError(f"{where}.role", f"unknown message role {role!r}")

    def _call(self, item: Item, where: str) -> None:
        call_id = _string(item, "call_id", where)
        name = _string(item, "name", where)
        arguments = item.get("arguments", "")
        if not isinstance(arguments, str):
            raise RequestError(f"{where}.arguments", "'arguments' must be a JSON string")
        if call_id in self._unanswered:
            raise RequestError(f"{where}.call_id", f"call_id {call_id!r} is used twice")
        message = self._open if self._open is not None else self._assistant(None)
        message.setdefault("tool_calls", []).append(
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
        )
        self._unanswered[call_id] = where

    def _output(self, item: Item, where: str) -> None:
        call_id = _string(item, "call_id", where)
        if self._unanswered.pop(call_id, None) is None:
            raise RequestError(
                f"{where}.call_id", f"no earlier function_call has call_id {call_id!r}"
            )
        output = item.get("output")
        if isinstance(output, str):
            text = output
        elif isinstance(output, list):
            text = "\n".join(
                _texts(output, f"{where}.output", ("input_text", "output_text"), others=self.notes)
            )
        else:
            raise RequestError(f"{where}.output", "'output' must be a string or an array of parts")
        self._append({"role": "tool", "tool_call_id": call_id, "content": text})

    def _add_reasoning(self, item: Item) -> None:
        if not self.keep_reasoning:
            self._dropped_reasoning += 1
            return
        parts = item.get("content") or item.get("summary") or []
        self._reasoning.extend(
            part["text"]
            for part in parts
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )

    def _assistant(self, content: str | None) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if self._reasoning:
            message["reasoning_content"] = "\n".join(self._reasoning)
        self._append(message)
        self._open = message
        return message

    def _append(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        self._open = None
        self._reasoning = []


def _string(item: Item, field: str, where: str) -> str:
    value = item.get(field)
    if not isinstance(value, str) or not value:
        raise RequestError(f"{where}.{field}", f"'{field}' must be a non-empty string")
    return value


def _texts(
    content: Any, where: str, kinds: tuple[str, ...], *, others: list[str] | None = None
) -> list[str]:
    """The texts of `content` (a string or parts of the given kinds). Parts of other kinds are
    an error, unless `others` is given: then they are skipped with a note appended to it."""
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        raise RequestError(f"{where}.content", "'content' must be a string or an array of parts")
    texts: list[str] = []
    for index, part in enumerate(content):
        at = f"{where}[{index}]" if others is not None else f"{where}.content[{index}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in kinds:
            text = part.get("refusal" if kind == "refusal" else "text")
            if not isinstance(text, str):
                raise RequestError(at, f"a {kind} part needs its text")
            texts.append(text)
        elif others is not None:
            others.append(f"{at}: dropped {kind} part; a Chat tool message holds text only")
        else:
            raise RequestError(f"{at}.type", f"a part of type {kind!r} is not allowed here")
    return texts


def _user_content(content: Any, where: str) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise RequestError(f"{where}.content", "'content' must be a string or an array of parts")
    parts = [_user_part(part, f"{where}.content[{index}]") for index, part in enumerate(content)]
    if all(part["type"] == "text" for part in parts):
        return "\n".join(part["text"] for part in parts)
    return parts


def _user_part(part: Any, at: str) -> dict[str, Any]:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "input_text":
        text = part.get("text")
        if not isinstance(text, str):
            raise RequestError(f"{at}.text", "an input_text part needs 'text'")
        return {"type": "text", "text": text}
    if kind == "input_image":
        url = part.get("image_url")
        if not isinstance(url, str) or not url:
            raise RequestError(
                f"{at}.image_url", "Chat Completions takes images by URL or data URL only"
            )
        image: dict[str, Any] = {"url": url}
        detail = _IMAGE_DETAIL.get(part.get("detail") or "")
        if detail is not None:
            image["detail"] = detail
        return {"type": "image_url", "image_url": image}
    if kind == "input_file":
        if part.get("file_url") is not None:
            raise RequestError(f"{at}.file_url", "Chat Completions takes files as data or file_id")
        file = {key: part[key] for key in ("file_data", "file_id", "filename") if part.get(key)}
        if "file_data" not in file and "file_id" not in file:
            raise RequestError(at, "an input_file part needs 'file_data' or 'file_id'")
        return {"type": "file", "file": file}
    raise RequestError(f"{at}.type", f"a part of type {kind!r} is not allowed in a user message")
