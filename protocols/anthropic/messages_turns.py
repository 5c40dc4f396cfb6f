"""Anthropic `messages` (alternating user and assistant turns) as Chat Completions messages.

Turn by turn:
- A **user** turn is `tool_result` blocks and the user's own content. Each `tool_result` becomes
  a `tool` message with its `tool_call_id`, in order, BEFORE anything else of the turn: Chat
  demands that the tool messages answering an assistant's calls follow it directly. A Chat
  tool message holds text only, so a result's text blocks join with "\\n" and its images and
  documents move to the user message after the tool messages, each after a text part naming the
  call it came from (Claude Code sends screenshots and images it read this way). A result with
  `is_error: true` is marked in its text as `Error: ...`, since Chat has no error flag. The rest
  of the turn (text, images, documents, see `messages_content`) becomes one user message,
  collapsed to a string when it is all text.
- An **assistant** turn's text blocks join into its `content`; each `tool_use` becomes a
  `tool_calls` entry that keeps its id, with the `input` as compact JSON `arguments`.
  `thinking` and `redacted_thinking` blocks are dropped: their signature and encrypted data mean
  something only to Anthropic's models, Chat has no standard field for earlier reasoning, and
  upstreams that have one refuse it in input (DeepSeek) or ignore it; Anthropic itself drops
  thinking of earlier turns from the context. A turn left with nothing is not sent.
- As on Anthropic, every `tool_use` must be answered by a `tool_result` in the next user turn,
  and every `tool_result` must answer a `tool_use` of the assistant turn just before; only a
  final assistant turn (a prefill) may leave calls unanswered. Chat upstreams refuse either kind
  of orphan too, with a far less useful message.
- Content is a string or a non-empty array of blocks; only a final assistant turn may be empty.
- A **system** turn (text only) stays a Chat `system` message where it stands. The Messages API
  proper has no such role, but Claude Code sends one (with `cache_control`) after the user's
  message to describe its environment, and Chat takes system messages anywhere. It neither
  answers nor asks for a tool call; one that comes between calls and their results follows the
  results (Chat wants the tool messages right after the calls).
"""

from __future__ import annotations

from typing import Any

import attrs

from protocols import jsoncodec
from protocols.anthropic.messages_content import (
    Part,
    collapse,
    nested_parts,
    text_of,
    text_part,
    user_parts,
)
from protocols.errors import BadRequest, Untranslatable

Message = dict[str, Any]

USER_BLOCKS = ("text", "image", "document", "tool_result")
ASSISTANT_BLOCKS = ("text", "tool_use", "thinking", "redacted_thinking")
_RESULT_BLOCKS = ("text", "image", "document")


def chat_messages(messages: Any) -> list[Message]:
    """The Chat messages of a request's `messages`; raises `BadRequest` naming the path."""
    if messages is None:
        raise BadRequest(
            "'messages' is a required property",
            param="messages",
            code="missing_required_parameter",
        )
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty array", param="messages")
    builder = TurnBuilder()
    for index, message in enumerate(messages):
        builder.add(message, f"messages[{index}]", last=index == len(messages) - 1)
    return builder.finished()


@attrs.define
class TurnBuilder:
    messages: list[Message] = attrs.field(factory=list)
    _pending: list[str] = attrs.field(factory=list)  # tool_use ids the next turn must answer
    # system turns that came while tool calls awaited their results: Chat wants the tool
    # messages right after the assistant's calls, so these follow the results instead
    _held: list[Message] = attrs.field(factory=list)

    def finished(self) -> list[Message]:
        """The Chat messages, system turns still held (after a final prefill) last."""
        return self.messages + self._held

    def add(self, message: Any, where: str, *, last: bool) -> None:
        if not isinstance(message, dict):
            raise BadRequest(f"'{where}' must be an object", param=where)
        role = message.get("role")
        if role not in ("user", "assistant", "system"):
            raise BadRequest(
                f"'{where}.role' must be 'user', 'assistant' or 'system'", param=f"{where}.role"
            )
        if role == "system":
            self._system(message.get("content"), f"{where}.content")
            return
        blocks = _blocks(message.get("content"), f"{where}.content", role, may_be_empty=last)
        if role == "user":
            self._user(blocks, where)
        else:
            self._answered(where)
            self._assistant(blocks, where)

    def _user(self, blocks: list[dict[str, Any]], where: str) -> None:
        tools: list[Message] = []
        moved: list[Part] = []  # the non-text content of tool results
        parts: list[Part] = []
        answered: list[str] = []
        for index, block in enumerate(blocks):
            at = f"{where}.content[{index}]"
            if block["type"] != "tool_result":
                parts += user_parts(block, at)
                continue
            call_id = block.get("tool_use_id")
            if not isinstance(call_id, str) or call_id not in self._pending or call_id in answered:
                raise BadRequest(
                    f"unexpected tool_use_id in '{at}': each tool_result must answer, once, a "
                    "tool_use block of the previous message",
                    param=f"{at}.tool_use_id",
                )
            answered.append(call_id)
            text, extra = _tool_result(block, at)
            tools.append({"role": "tool", "tool_call_id": call_id, "content": text})
            if extra:
                moved += [text_part(f"[content of the tool result for {call_id}]"), *extra]
        self._pending = [call_id for call_id in self._pending if call_id not in answered]
        self._answered(where)
        self.messages += tools
        self.messages += self._held
        self._held = []
        if moved or parts:
            self.messages.append({"role": "user", "content": collapse(moved + parts)})

    def _system(self, content: Any, at: str) -> None:
        if isinstance(content, str):
            text = content
        elif isinstance(content, list) and content:
            texts = []
            for index, block in enumerate(content):
                where = f"{at}[{index}]"
                if not isinstance(block, dict) or block.get("type") != "text":
                    raise BadRequest(f"'{where}' must be a text block", param=where)
                texts.append(text_of(block, where))
            text = "\n".join(texts)
        else:
            raise BadRequest(f"'{at}' must be a string or an array of text blocks", param=at)
        message: Message = {"role": "system", "content": text}
        (self._held if self._pending else self.messages).append(message)

    def _assistant(self, blocks: list[dict[str, Any]], where: str) -> None:
        texts: list[str] = []
        calls: list[dict[str, Any]] = []
        for index, block in enumerate(blocks):
            at = f"{where}.content[{index}]"
            if block["type"] == "text":
                texts.append(text_of(block, at))
            elif block["type"] == "tool_use":
                calls.append(_tool_call(block, at))
        self._pending = [call["id"] for call in calls]
        if not texts and not calls:
            return
        message: Message = {"role": "assistant", "content": "\n".join(texts) if texts else None}
        if calls:
            message["tool_calls"] = calls
        self.messages.append(message)

    def _answered(self, where: str) -> None:
        """The calls of the assistant turn before `where` must all have been answered."""
        if self._pending:
            raise BadRequest(
                "tool_use ids were found without tool_result blocks immediately after: "
                + ", ".join(self._pending),
                param=where,
            )


def _blocks(content: Any, at: str, role: str, *, may_be_empty: bool) -> list[dict[str, Any]]:
    if isinstance(content, str):
        if not content and not (may_be_empty and role == "assistant"):
            raise BadRequest(f"'{at}' must not be empty", param=at)
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise BadRequest(f"'{at}' must be a string or an array of content blocks", param=at)
    if not content and not (may_be_empty and role == "assistant"):
        raise BadRequest(f"'{at}' must not be empty", param=at)
    allowed = USER_BLOCKS if role == "user" else ASSISTANT_BLOCKS
    for index, block in enumerate(content):
        where = f"{at}[{index}]"
        if not isinstance(block, dict):
            raise BadRequest(f"'{where}' must be an object", param=where)
        kind = block.get("type")
        if kind not in allowed:
            error = Untranslatable if isinstance(kind, str) and kind else BadRequest
            raise error(
                f"'{where}.type' {kind!r} is not a {role} content block a Chat upstream takes "
                f"({', '.join(allowed)})",
                param=f"{where}.type",
            )
    return content


def _tool_call(block: dict[str, Any], at: str) -> dict[str, Any]:
    for field in ("id", "name"):
        if not isinstance(block.get(field), str) or not block[field]:
            raise BadRequest(f"'{at}.{field}' must be a non-empty string", param=f"{at}.{field}")
    arguments = block.get("input", {})
    if not isinstance(arguments, dict):
        raise BadRequest(f"'{at}.input' must be an object", param=f"{at}.input")
    return {
        "id": block["id"],
        "type": "function",
        "function": {"name": block["name"], "arguments": jsoncodec.dumps(arguments).decode()},
    }


def _tool_result(block: dict[str, Any], at: str) -> tuple[str, list[Part]]:
    """A tool result's text, and the parts of it a Chat tool message cannot hold."""
    content = block.get("content", "")
    if isinstance(content, str):
        parts = [text_part(content)] if content else []
    else:
        parts = nested_parts(content, f"{at}.content", _RESULT_BLOCKS)
    text = "\n".join(part["text"] for part in parts if part["type"] == "text")
    is_error = block.get("is_error", False)
    if not isinstance(is_error, bool | None):
        raise BadRequest(f"'{at}.is_error' must be a boolean", param=f"{at}.is_error")
    if is_error:
        text = f"Error: {text}" if text else "Error"
    return text, [part for part in parts if part["type"] != "text"]
