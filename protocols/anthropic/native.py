"""Messages clients passed through to an upstream that speaks Messages (`kind: anthropic`).

`MessagesNativeGate` is `protocols.responses.native.NativeStreamGate`'s counterpart for
Anthropic event streams. Each event passes on re-framed as `event: <type>` / `data: <json>`,
the data the upstream's own text. It holds `message_start`, `ping`, text and thinking block
starts and the like until the first content: a `content_block_delta`, a `tool_use` block's
start, or a `message_delta` with a `stop_reason`; a failure before that (an `error` event,
malformed data) can still go to the next candidate. `message_stop` ends the stream; a body that
ends before it was cut, and one that sent no event at all is malformed.

Usage is exposed as the Chat gate exposes it, on `usage`, a `UsageTap` (with `keep`: nothing is
stripped here, the tap is only where the reader finds it): `usage.usage` is the `Usage` of
`message_start`'s input counts, then, from `message_delta`, the final output count too.
`actors.upstream_stream.StreamReader` reads it there for either gate.
"""

from __future__ import annotations

from typing import Any

import attrs

from protocols import sse
from protocols.anthropic.events import merge_usage, read_event
from protocols.anthropic.upstream_reply import chat_usage, check_message
from protocols.failures import FailureClass, UpstreamFailure, UpstreamFault, cut
from protocols.stream_gate import StreamGate
from protocols.stream_usage import UsageTap
from protocols.usage import Usage


@attrs.define
class MessagesNativeGate(StreamGate):
    usage: UsageTap = attrs.field(factory=lambda: UsageTap(keep=True))
    _counts: dict[str, Any] | None = None  # the Anthropic usage so far

    def end(self) -> bytes:
        if self.fault is not None:
            raise UpstreamFault(self.fault)
        if not self.done:
            message = "upstream ended its Messages stream before message_stop"
            if self.started:
                raise UpstreamFault(cut(message))
            raise UpstreamFault(UpstreamFailure(FailureClass.MALFORMED, message))
        self.committed = True
        return self._release()

    def _take(self, data: str) -> bytes:
        event = read_event(data)
        kind = event["type"]
        if kind in ("message_start", "message_delta"):
            source = event.get("message") if kind == "message_start" else event
            if isinstance(source, dict):
                self._count(source.get("usage"))
        if kind == "message_stop":
            self.done = True
        return self._hold(sse.encode_event(kind, data), commits=_has_content(event))

    def _count(self, update: Any) -> None:
        self._counts = merge_usage(self._counts, update)
        usage = chat_usage(self._counts)
        if usage is not None:
            self.usage.usage = Usage.from_chat(usage)


def _has_content(event: dict[str, Any]) -> bool:
    kind = event["type"]
    if kind == "content_block_delta" or kind == "message_stop":
        return True
    if kind == "content_block_start":
        block = event.get("content_block")
        return isinstance(block, dict) and block.get("type") == "tool_use"
    if kind == "message_delta":
        delta = event.get("delta")
        return isinstance(delta, dict) and bool(delta.get("stop_reason"))
    return False


def check_native_message(body: bytes) -> UpstreamFailure | None:
    """None if a 200 body is a Message; otherwise what is wrong with it (as `check_message`)."""
    return check_message(body)


def without_unsigned_thinking(payload: dict[str, Any]) -> dict[str, Any]:
    """A Messages request as a native upstream may take it: the thinking blocks baton itself
    made (served by a Chat upstream, their `signature` empty) are left out of the history.
    Anthropic refuses a thinking block whose signature it did not make, and a chain that mixes
    Chat and Anthropic candidates hands the client such blocks; its own keep their signatures.
    The payload is returned as it is when there is nothing to leave out."""
    messages = payload.get("messages")
    if not isinstance(messages, list) or not any(_unsigned(m) for m in messages):
        return payload
    cleaned = []
    for message in messages:
        if _unsigned(message):
            blocks = [b for b in message["content"] if not _unsigned_block(b)]
            message = {**message, "content": blocks or [{"type": "text", "text": "(no answer)"}]}
        cleaned.append(message)
    return {**payload, "messages": cleaned}


def _unsigned(message: Any) -> bool:
    return (
        isinstance(message, dict)
        and message.get("role") == "assistant"
        and isinstance(message.get("content"), list)
        and any(_unsigned_block(block) for block in message["content"])
    )


def _unsigned_block(block: Any) -> bool:
    return (
        isinstance(block, dict) and block.get("type") == "thinking" and not block.get("signature")
    )
