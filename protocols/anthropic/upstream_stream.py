"""A streamed Anthropic Messages reply, let through to a Chat Completions client as Chat chunks.

`MessagesChatGate` is a `ChatStreamGate` whose upstream speaks Messages events: each event
becomes zero or more Chat chunks (`data: {chat.completion.chunk}`), and each chunk goes
through the Chat gate's own logic, so the commit point (the first text, reasoning, tool call
or finish), the usage tap and the end-of-stream checks are the Chat stream's exactly.

Messages event -> Chat chunk(s):
- `message_start` -> the role opener (`role: assistant`, `content: ""`);
- `content_block_start` of `tool_use` -> a tool call: `index` (tool blocks counted from 0),
  `id`, `name`, `arguments: ""`;
- `content_block_delta`: `text_delta` -> `content`; `thinking_delta` -> `reasoning_content`;
  `input_json_delta` -> a piece of that tool call's `arguments`;
- `content_block_stop` of a tool call that got no argument piece -> `arguments: "{}"` (a tool
  without parameters: "" is no JSON to a Chat client, and the whole reply says `{}` too);
- `message_delta` -> the finish chunk, then the usage chunk (`choices: []`), as OpenAI sends
  them with `include_usage`;
- `message_stop` -> none: the stream is done (Chat's `[DONE]`);
- `error` -> `UpstreamFault`, classified by the error's type;
- `ping`, a text or thinking block's `content_block_stop` and start, `signature_delta`,
  `citations_delta`, and types not known yet -> none.

The usage chunk always goes through the gate's `UsageTap`, which reads it and drops it when the
client did not ask for usage (`stream_options.include_usage`). Chunks carry the upstream's
`model` and an `id` made from the Message's (`chatcmpl-msg_...`); `created` is given by the
caller (default: when the gate was made).
"""

from __future__ import annotations

import time
from typing import Any

import attrs

from protocols import jsoncodec
from protocols.anthropic.events import merge_usage, read_event
from protocols.anthropic.upstream_reply import chat_usage, completion_id, finish_reason
from protocols.chat_stream import ChatStreamGate

Delta = dict[str, Any]


@attrs.define
class MessagesChatGate(ChatStreamGate):
    created: int = attrs.field(factory=lambda: int(time.time()))
    _id: str = "chatcmpl-"
    _model: str = ""
    _counts: dict[str, Any] | None = None  # the Anthropic usage so far
    _tools: dict[int, int] = attrs.field(factory=dict)  # content block index -> tool call index
    _argued: set[int] = attrs.field(factory=set)  # tool calls that got an argument piece

    def _take(self, data: str) -> bytes:
        passed = bytearray()
        for chunk in self._chunks(read_event(data)):
            passed += super()._take(jsoncodec.dumps(chunk).decode())
        return bytes(passed)

    def _chunks(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        kind = event["type"]
        if kind == "message_start":
            message = event.get("message")
            message = message if isinstance(message, dict) else {}
            self._id = completion_id(message.get("id"))
            self._model = str(message.get("model") or "")
            self._counts = merge_usage(None, message.get("usage"))
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "content_block_start":
            return self._block_start(event.get("index"), event.get("content_block"))
        if kind == "content_block_delta":
            return self._block_delta(event.get("index"), event.get("delta"))
        if kind == "content_block_stop":
            # a tool whose input was `{}` may get no argument piece at all: Chat clients
            # parse `arguments`, and "" is no JSON; say `{}`, as the whole reply would
            ordinal = self._tools.get(_index(event.get("index")))
            if ordinal is not None and ordinal not in self._argued:
                self._argued.add(ordinal)
                piece = {"index": ordinal, "function": {"arguments": "{}"}}
                return [self._chunk({"tool_calls": [piece]})]
            return []
        if kind == "message_delta":
            self._counts = merge_usage(self._counts, event.get("usage"))
            delta = event.get("delta")
            reason = delta.get("stop_reason") if isinstance(delta, dict) else None
            chunks = [self._chunk({}, finish_reason=finish_reason(reason))]
            usage = chat_usage(self._counts)
            if usage is not None:
                chunks.append({**self._chunk({}), "choices": [], "usage": usage})
            return chunks
        if kind == "message_stop":
            self.done = True
        return []

    def _block_start(self, index: Any, block: Any) -> list[dict[str, Any]]:
        if not isinstance(block, dict):
            return []
        kind = block.get("type")
        if kind == "tool_use":
            ordinal = self._tools.setdefault(_index(index), len(self._tools))
            function = {"name": str(block.get("name") or ""), "arguments": ""}
            call = {"index": ordinal, "id": str(block.get("id") or ""), "type": "function"}
            return [self._chunk({"tool_calls": [{**call, "function": function}]})]
        if kind == "text" and block.get("text"):
            return [self._chunk({"content": block["text"]})]
        if kind == "thinking" and block.get("thinking"):
            return [self._chunk({"reasoning_content": block["thinking"]})]
        return []

    def _block_delta(self, index: Any, delta: Any) -> list[dict[str, Any]]:
        if not isinstance(delta, dict):
            return []
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            return [self._chunk({"content": delta["text"]})]
        if kind == "thinking_delta" and delta.get("thinking"):
            return [self._chunk({"reasoning_content": delta["thinking"]})]
        ordinal = self._tools.get(_index(index))
        if kind == "input_json_delta" and delta.get("partial_json") and ordinal is not None:
            self._argued.add(ordinal)
            piece = {"index": ordinal, "function": {"arguments": delta["partial_json"]}}
            return [self._chunk({"tool_calls": [piece]})]
        return []

    def _chunk(self, delta: Delta, finish_reason: str | None = None) -> dict[str, Any]:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self._model,
            "choices": [
                {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
            ],
        }


def _index(index: Any) -> int:
    return index if isinstance(index, int) and not isinstance(index, bool) else -1
