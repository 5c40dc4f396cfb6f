"""A Chat Completions chunk stream as Anthropic's Messages event stream: one machine per call.

Anthropic's stream is `message_start`, then for each content block `content_block_start`, its
deltas and `content_block_stop` (blocks numbered from 0, one open at a time), then
`message_delta` (stop reason and usage) and `message_stop`; `ping` may come anywhere and an
`error` event ends a stream that broke. Every event is `event: <type>` plus its JSON `data`
(the SDKs skip an event without a name, so it is never left out).

`feed(data)` takes the JSON of one Chat chunk and returns the whole SSE events it completes;
`finish(usage)` (the upstream ended) closes the open block and sends `message_delta` and
`message_stop`; `fail(type, message)` (it broke) sends the `error` event, closing nothing, as
Anthropic does. `message_start` is sent lazily, just before the first event that says
something, so a role-only opener or a usage chunk yields no bytes: until `started`, the caller
may still drop this stream's candidate for the next one without the client noticing. Its
Message is empty, with `stop_reason` null and the prompt's usage if already known (normally 0:
Chat reports usage at the end) with `output_tokens` 0; `message_delta` carries the final usage
whole, which clients take as cumulative totals.

Blocks follow the deltas: reasoning (`reasoning_content`, or `reasoning`) opens a `thinking`
block; text (`content`, then `refusal`) a `text` block; each tool call a `tool_use` block with
its id, name and `input: {}`, its arguments gathered and sent whole as one `input_json_delta`
when the call ends, once `tool_input` has checked them (what is no JSON object becomes `{}`, as
in the non-streamed reply): local models stream arguments that are no JSON, and the SDKs fail
the whole stream on an `input_json_delta` they cannot parse. A delta of another kind closes the
open block first. A thinking block is closed by a `signature_delta` with an empty signature, as
Anthropic closes every thinking block; the SDKs keep the signature as given and baton never
checks one (see `messages_reply`). A call is the block of its Chat `index`; a fragment with a
different upstream `id` starts a new call (some servers number every parallel call 0). A call
whose name has not come yet is held back until it does, since `content_block_start` must carry
it. A fragment for a call already closed means interleaved calls, which are not reordered: that,
and any chunk that is not a Chat chunk, raises `UpstreamReplyError`; the events made before the
raise come first from the next call (normally `fail`).

The stop reason and usage are those of `messages_reply`, so a stream and the non-streamed reply
of the same completion accumulate to the same Message.
"""

from __future__ import annotations

from typing import Any

import attrs

from protocols import jsoncodec
from protocols.anthropic.errors import error_object
from protocols.anthropic.messages_reply import (
    message_object,
    new_tool_use_id,
    stop_reason,
    tool_input,
    usage_object,
)
from protocols.chat_choice import chunk_choice
from protocols.responses.errors import UpstreamReplyError
from protocols.usage import Usage, usage_of_chunk

PING = b'event: ping\ndata: {"type":"ping"}\n\n'


@attrs.define
class OpenBlock:
    """The content block being streamed. A tool call's `index` is None until its start."""

    kind: str  # thinking, text or tool_use
    index: int | None
    chat_index: Any = None
    upstream_id: str | None = None
    name: str = ""
    held: list[str] = attrs.field(factory=list)  # argument fragments before the start


@attrs.define
class MessagesStream:
    model: str
    message_id: str
    _started: bool = False
    _ended: bool = False
    _blocks: int = 0  # content blocks started
    _open: OpenBlock | None = None
    _closed_indexes: set[Any] = attrs.field(factory=set)  # Chat indexes of closed calls
    _closed_ids: set[str] = attrs.field(factory=set)  # upstream ids of closed calls
    _tool_use: bool = False
    _finish_reason: str | None = None
    _usage: Usage | None = None
    _outbox: list[bytes] = attrs.field(factory=list, repr=False)

    @property
    def started(self) -> bool:
        """True once `message_start` went out: from then on, no silent failover."""
        return self._started

    def feed(self, data: str) -> bytes:
        """The events of one Chat chunk (the JSON of its `data:` line)."""
        if self._ended:
            raise RuntimeError("the message stream has already ended")
        try:
            chunk = jsoncodec.loads(data)
        except (ValueError, RecursionError):
            raise UpstreamReplyError("a stream chunk is not JSON") from None
        choice = chunk_choice(chunk)
        usage = usage_of_chunk(chunk)
        if usage is not None and usage.known:
            self._usage = usage
        if choice is None:
            return self._drain()
        delta = choice.get("delta") or {}
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if reasoning:
            self._delta("thinking", {"type": "thinking_delta", "thinking": reasoning})
        for field in ("content", "refusal"):
            if delta.get(field):
                self._delta("text", {"type": "text_delta", "text": delta[field]})
        for call in delta.get("tool_calls") or ():
            self._call(call)
        if choice.get("finish_reason"):
            self._finish_reason = choice["finish_reason"]
        return self._drain()

    def finish(self, usage: Usage | None = None) -> bytes:
        """The upstream ended: close the open block, then `message_delta` and `message_stop`.
        `usage`: the call's usage if the caller knows it, else what the chunks reported. Raises
        `UpstreamReplyError` if a tool call never got its name (then `fail` still works)."""
        if self._ended:
            return self._drain()
        self._close()
        reason = stop_reason(self._finish_reason, tool_use=self._tool_use)
        self._emit(
            "message_delta",
            delta={"stop_reason": reason, "stop_sequence": None},
            usage=usage_object(usage if usage is not None else self._usage),
        )
        self._emit("message_stop")
        self._ended = True
        return self._drain()

    def fail(self, error_type: str, message: str) -> bytes:
        """The upstream broke: an `error` event (`overloaded_error`, `api_error`, ...) ends the
        stream; the open block stays open, as on Anthropic."""
        if not self._ended:
            self._ended = True
            self._outbox.append(_event("error", error_object(error_type, message)))
        return self._drain()

    def start(self) -> bytes:
        """`message_start` now, if it has not gone out: what goes before the first keep-alive
        (`ping`), since Anthropic's own streams begin with it and some clients insist."""
        if not self._started and not self._ended:
            self._begin()
        return self._drain()

    def ping(self) -> bytes:
        """A keep-alive event for a slow upstream (clients skip it, even before the start)."""
        return b"" if self._ended else PING

    # -- blocks ------------------------------------------------------------------------------

    def _delta(self, kind: str, delta: dict[str, Any]) -> None:
        if self._open is None or self._open.kind != kind:
            self._close()
            self._open = OpenBlock(kind, None)
            start: dict[str, Any] = {"type": kind, kind: ""}
            if kind == "thinking":
                start["signature"] = ""
            self._start_block(start)
        self._emit("content_block_delta", index=self._open.index, delta=delta)

    def _call(self, call: Any) -> None:
        chat_index = call.get("index")
        upstream_id = call.get("id") if isinstance(call.get("id"), str) and call["id"] else None
        function = call.get("function") or {}
        name = function.get("name") if isinstance(function.get("name"), str) else ""
        arguments = function.get("arguments") or ""
        block = self._open
        if not (
            block is not None
            and block.kind == "tool_use"
            and (chat_index is None or chat_index == block.chat_index)
            and (upstream_id is None or block.upstream_id in (None, upstream_id))
        ):
            closed = (
                upstream_id in self._closed_ids
                if upstream_id is not None
                else chat_index in self._closed_indexes
            )
            if closed:
                if name or arguments:
                    raise UpstreamReplyError(f"tool call {chat_index} went on after the next one")
                return
            self._close()
            block = self._open = OpenBlock("tool_use", None, chat_index, upstream_id)
        if upstream_id is not None and block.upstream_id is None:
            block.upstream_id = upstream_id
        if arguments:
            block.held.append(arguments)
        if name and block.index is None:
            block.name = name
            self._tool_use = True
            call_id = block.upstream_id or new_tool_use_id()
            self._start_block({"type": "tool_use", "id": call_id, "name": name, "input": {}})

    def _start_block(self, content_block: dict[str, Any]) -> None:
        assert self._open is not None
        self._open.index = self._blocks
        self._blocks += 1
        self._emit("content_block_start", index=self._open.index, content_block=content_block)

    def _close(self) -> None:
        block, self._open = self._open, None
        if block is None:
            return
        if block.kind == "tool_use":
            if block.index is None:
                raise UpstreamReplyError("upstream tool call has no function name")
            # the arguments, whole and checked: what is no JSON object is `{}`, as in the
            # non-streamed reply (the SDKs fail a stream whose input_json_delta is no JSON)
            arguments = tool_input("".join(block.held))
            block.held.clear()
            if arguments:
                delta = {"type": "input_json_delta", "partial_json": _json_text(arguments)}
                self._emit("content_block_delta", index=block.index, delta=delta)
            if block.chat_index is not None:
                self._closed_indexes.add(block.chat_index)
            if block.upstream_id is not None:
                self._closed_ids.add(block.upstream_id)
        elif block.kind == "thinking":
            delta = {"type": "signature_delta", "signature": ""}
            self._emit("content_block_delta", index=block.index, delta=delta)
        self._emit("content_block_stop", index=block.index)

    # -- plumbing ----------------------------------------------------------------------------

    def _emit(self, type: str, **fields: Any) -> None:
        if not self._started:
            self._begin()
        self._outbox.append(_event(type, {"type": type, **fields}))

    def _begin(self) -> None:
        self._started = True
        prompt = attrs.evolve(self._usage, output=None) if self._usage else None
        empty = message_object(
            self.message_id, self.model, [], stop_reason=None, usage=usage_object(prompt)
        )
        self._outbox.append(_event("message_start", {"type": "message_start", "message": empty}))

    def _drain(self) -> bytes:
        events, self._outbox = self._outbox, []
        return b"".join(events)


def _event(type: str, data: dict[str, Any]) -> bytes:
    return b"event: " + type.encode() + b"\ndata: " + jsoncodec.dumps(data) + b"\n\n"


def _json_text(value: Any) -> str:
    return jsoncodec.dumps(value).decode()
