"""A Chat Completions chunk stream as a Responses event stream: one state machine per call.

`start()` gives `response.created` and `response.in_progress`; `feed(chunk)` turns each Chat
chunk into events; `finish()` (the upstream ended) or `fail(code, message)` (it broke) closes
whatever is open and ends with exactly one terminal event. `keepalive()` repeats
`response.in_progress` for a slow upstream (Codex's idle timer counts events, not comments).
Every event carries the next `sequence_number`, from 0.

Exactly one output item is open at a time, always the last one: a delta of another kind (text
after reasoning, a tool call after text, the next tool call) first closes it with its `.done`
events and `response.output_item.done`, which is what agents act on. A tool call is the item
of its Chat `index`; a delta with a different upstream `id` also starts a new call (some
servers give every parallel call index 0). A fragment for a call that was already closed means
the upstream interleaved its calls, which this machine does not reorder: it raises
`UpstreamReplyError`, as it does for any chunk that is not a Chat chunk (text that is not a
string included: dropping it would truncate the answer silently). Nothing made before a raise
is lost: it comes first from the next call, normally `fail`.

A message item holds `output_text` and `refusal` parts in the order they came; reasoning is
streamed as one summary part (see `protocols.responses.output`). The items of the final
Response are the items of the `output_item.done` events, ids and all, and `response` always
reflects the current state; usage appears only in the terminal event's Response.
"""

from __future__ import annotations

from typing import Any

import attrs

from protocols.chat_choice import chunk_choice
from protocols.responses.envelope import request_echo, response_object
from protocols.responses.errors import UpstreamReplyError
from protocols.responses.ids import IdFactory
from protocols.responses.output import outcome, reasoning_text, summary_part, usage_from_chat
from protocols.responses.partial import PartialCall, PartialItem, PartialMessage, PartialReasoning

Event = dict[str, Any]


@attrs.define
class ResponseStream:
    request: dict[str, Any] = attrs.field(repr=False)
    ids: IdFactory = attrs.field(repr=False)
    created_at: int
    response_id: str = attrs.field(init=False)
    _echo: dict[str, Any] = attrs.field(init=False, repr=False)
    _sequence: int = 0
    _started: bool = False
    _done: list[dict[str, Any]] = attrs.field(factory=list)  # closed items, final form
    _open: PartialItem | None = None
    _closed_indexes: set[Any] = attrs.field(factory=set)  # Chat indexes of closed calls
    _closed_ids: set[str] = attrs.field(factory=set)  # upstream ids of closed calls
    _finish_reason: str | None = None
    _usage: dict[str, Any] | None = None
    _final: dict[str, Any] | None = None
    _outbox: list[Event] = attrs.field(factory=list)  # made, not yet returned
    _adopted: bool = False  # events of a native upstream were taken in

    def __attrs_post_init__(self) -> None:
        self.response_id = self.ids.response()
        self._echo = request_echo(self.request)

    @property
    def has_output(self) -> bool:
        """True once any output item was announced: from then on, no silent failover."""
        return bool(self._done) or self._open is not None or self._adopted

    @property
    def response(self) -> dict[str, Any]:
        """The Response as it stands: the terminal event's one once the stream has ended."""
        return self._final if self._final is not None else self._snapshot("in_progress")

    def start(self) -> list[Event]:
        self._start()
        return self._drain()

    def keepalive(self) -> list[Event]:
        if self._final is None:
            self._start()
            self._emit("response.in_progress", response=self._snapshot("in_progress"))
        return self._drain()

    def feed(self, chunk: Any) -> list[Event]:
        """Events for one Chat chunk. A malformed chunk raises `UpstreamReplyError`; events
        made before the raise are not lost but come first from the next call (`fail`)."""
        if self._final is not None:
            raise RuntimeError("the response stream has already ended")
        choice = chunk_choice(chunk)
        self._start()
        if isinstance(chunk.get("usage"), dict):
            self._usage = chunk["usage"]
        if choice is None:
            return self._drain()
        delta = choice.get("delta") or {}
        reasoning = reasoning_text(delta)
        if reasoning:
            self._reasoning_delta(reasoning)
        for kind, field in (("output_text", "content"), ("refusal", "refusal")):
            if isinstance(delta.get(field), str) and delta[field]:
                self._message_delta(kind, delta[field])
        for call in delta.get("tool_calls") or ():
            self._call_delta(call)
        if choice.get("finish_reason"):
            self._finish_reason = choice["finish_reason"]
        return self._drain()

    def adopt(self, event: dict[str, Any]) -> list[Event]:
        """An event from an upstream that speaks Responses itself, taken into this stream: its
        own opening events are dropped (this stream sent its own), the rest are renumbered and
        their `response` carries this stream's id and the requested model. Items keep the
        upstream's ids. A terminal event's `response` becomes the final one."""
        if self._final is not None:
            return self._drain()
        self._start()
        kind = event.get("type")
        if kind in ("response.created", "response.in_progress", "response.queued"):
            return self._drain()
        self._adopted = True
        fields = {
            key: value for key, value in event.items() if key not in ("type", "sequence_number")
        }
        if isinstance(fields.get("response"), dict):
            fields["response"] = {
                **fields["response"],
                "id": self.response_id,
                "model": self._echo.get("model", fields["response"].get("model")),
            }
            if kind in ("response.completed", "response.incomplete", "response.failed"):
                self._final = fields["response"]
        self._emit(str(kind), **fields)
        return self._drain()

    def finish(self, *, completed_at: int | None = None) -> list[Event]:
        """The upstream ended its stream: close the open item, then `response.completed` or,
        after a `length` or `content_filter` stop, `response.incomplete`."""
        if self._final is None:
            status, incomplete = outcome(self._finish_reason)
            self._start()
            self._close(status)
            usage = usage_from_chat(self._usage)
            self._final = self._snapshot(
                status, usage=usage, incomplete_details=incomplete, completed_at=completed_at
            )
            self._emit(f"response.{status}", response=self._final)
        return self._drain()

    def fail(self, code: str | None, message: str) -> list[Event]:
        """The upstream broke: close the open item as incomplete, then `response.failed` with
        the upstream's error code (`rate_limit_exceeded`, `context_length_exceeded`, ...)."""
        if self._final is None:
            self._start()
            self._close("incomplete")
            error = {"code": code or "server_error", "message": message}
            self._final = self._snapshot("failed", usage=usage_from_chat(self._usage), error=error)
            self._emit("response.failed", response=self._final)
        return self._drain()

    # -- items -------------------------------------------------------------------------------

    def _reasoning_delta(self, delta: str) -> None:
        item = self._open
        if not isinstance(item, PartialReasoning):
            self._close("completed")
            item = self._open = PartialReasoning(len(self._done), self.ids.reasoning())
            self._added(item)
            self._emit("response.reasoning_summary_part.added", **item.at, part=summary_part(""))
        item.fragments.append(delta)
        self._emit("response.reasoning_summary_text.delta", **item.at, delta=delta)

    def _message_delta(self, kind: str, delta: str) -> None:
        item = self._open
        if not isinstance(item, PartialMessage):
            self._close("completed")
            item = self._open = PartialMessage(len(self._done), self.ids.message())
            self._added(item)
        if not item.parts or item.parts[-1][0] != kind:
            if item.parts:
                self._close_part(item)
            item.parts.append((kind, []))
            self._emit("response.content_part.added", **item.at, part=item.part(-1))
        item.parts[-1][1].append(delta)
        if kind == "output_text":
            self._emit("response.output_text.delta", **item.at, delta=delta, logprobs=[])
        else:
            self._emit("response.refusal.delta", **item.at, delta=delta)

    def _call_delta(self, call: dict[str, Any]) -> None:
        chat_index = call.get("index")
        upstream_id = call.get("id") if isinstance(call.get("id"), str) and call["id"] else None
        function = call.get("function") or {}
        name = function.get("name")
        if not isinstance(name, str):
            name = ""
        arguments = function.get("arguments") or ""
        item = self._open
        if not (
            isinstance(item, PartialCall)
            and (chat_index is None or chat_index == item.chat_index)
            and (upstream_id is None or item.upstream_id in (None, upstream_id))
        ):
            if (
                upstream_id in self._closed_ids
                if upstream_id is not None
                else chat_index in self._closed_indexes
            ):
                if name or arguments:
                    raise UpstreamReplyError(f"tool call {chat_index} went on after the next one")
                return
            self._close("completed")
            call_id = upstream_id or self.ids.call()
            item = self._open = PartialCall(
                len(self._done), self.ids.function_call(), call_id, name, chat_index, upstream_id
            )
            self._added(item)
        if name and not item.name:
            item.name = name
        if arguments:
            item.fragments.append(arguments)
            self._emit("response.function_call_arguments.delta", **item.at, delta=arguments)

    def _close(self, status: str) -> None:
        item, self._open = self._open, None
        if item is None:
            return
        if isinstance(item, PartialMessage):
            self._close_part(item)
        elif isinstance(item, PartialReasoning):
            text = "".join(item.fragments)
            self._emit("response.reasoning_summary_text.done", **item.at, text=text)
            self._emit("response.reasoning_summary_part.done", **item.at, part=summary_part(text))
        else:
            if item.chat_index is not None:
                self._closed_indexes.add(item.chat_index)
            if item.upstream_id is not None:
                self._closed_ids.add(item.upstream_id)
            arguments = "".join(item.fragments)
            self._emit(
                "response.function_call_arguments.done",
                **item.at,
                name=item.name,
                arguments=arguments,
            )
        final = item.item(status)
        self._done.append(final)
        self._emit("response.output_item.done", output_index=item.index, item=final)

    def _close_part(self, item: PartialMessage) -> None:
        part = item.part(-1)
        if part["type"] == "output_text":
            self._emit("response.output_text.done", **item.at, text=part["text"], logprobs=[])
        else:
            self._emit("response.refusal.done", **item.at, refusal=part["refusal"])
        self._emit("response.content_part.done", **item.at, part=part)

    # -- plumbing ----------------------------------------------------------------------------

    def _start(self) -> None:
        if not self._started:
            self._started = True
            snapshot = self._snapshot("in_progress")
            self._emit("response.created", response=snapshot)
            self._emit("response.in_progress", response=snapshot)

    def _added(self, item: PartialItem) -> None:
        self._emit(
            "response.output_item.added", output_index=item.index, item=item.item("in_progress")
        )

    def _emit(self, type: str, **fields: Any) -> None:
        self._outbox.append({"type": type, **fields, "sequence_number": self._sequence})
        self._sequence += 1

    def _drain(self) -> list[Event]:
        events, self._outbox = self._outbox, []
        return events

    def _snapshot(self, status: str, **fields: Any) -> dict[str, Any]:
        output = [*self._done]
        if self._open is not None:
            output.append(self._open.item("in_progress"))
        return response_object(
            self.response_id, self.created_at, self._echo, status=status, output=output, **fields
        )
