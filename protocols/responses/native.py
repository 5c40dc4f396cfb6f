"""Replies from an upstream that speaks the Responses API itself (`kind: openai-responses`).

`NativeStreamGate` is `ChatStreamGate`'s counterpart for Responses event streams: it holds the
upstream's opening events (`response.created`, `response.in_progress`, `response.queued`) and
commits on the first event about output, so a failure before that (`error`,
`response.failed`) can still go to the next candidate. The stream is whole once a terminal
event (`response.completed`, `response.incomplete`, `response.failed`) arrived; a body that
ends before one was cut. Events pass on re-framed, one `event:`/`data:` pair each.
"""

from __future__ import annotations

from typing import Any

import attrs

from protocols import jsoncodec, sse
from protocols.failures import (
    FailureClass,
    UpstreamFailure,
    UpstreamFault,
    classify_error_object,
    cut,
)
from protocols.stream_gate import StreamGate

OPENING = frozenset({"response.created", "response.in_progress", "response.queued"})
TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})


@attrs.define
class NativeStreamGate(StreamGate):
    def end(self) -> bytes:
        if self.fault is not None:
            raise UpstreamFault(self.fault)
        if not self.done:
            message = "upstream ended its Responses stream before a terminal event"
            if self.started:
                raise UpstreamFault(cut(message))
            raise UpstreamFault(UpstreamFailure(FailureClass.MALFORMED, message))
        return self._release()

    def _take(self, data: str) -> bytes:
        try:
            event = jsoncodec.loads(data)
        except ValueError:
            event = None
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            raise UpstreamFault(
                UpstreamFailure(FailureClass.MALFORMED, "upstream sent a malformed Responses event")
            )
        kind = event["type"]
        if kind == "error" or (kind == "response.failed" and not self.committed):
            raise UpstreamFault(classify_error_object(_error_of(event)))
        if kind in TERMINAL:
            self.done = True
        return self._hold(sse.encode_event(kind, data), commits=kind not in OPENING)


def check_native_response(body: bytes) -> UpstreamFailure | None:
    """None if a 200 body is a Response object; otherwise what is wrong with it."""
    try:
        reply = jsoncodec.loads(body)
    except ValueError:
        reply = None
    if not isinstance(reply, dict):
        return UpstreamFailure(
            FailureClass.MALFORMED, "upstream reply is not a JSON object", status=200
        )
    if reply.get("status") == "failed" or (reply.get("error") and "output" not in reply):
        return classify_error_object(_error_of({"response": reply}), status=200)
    if not isinstance(reply.get("output"), list):
        return UpstreamFailure(
            FailureClass.MALFORMED, "upstream reply has no 'output' array", status=200
        )
    return None


def _error_of(event: dict[str, Any]) -> dict[str, Any]:
    response = event.get("response")
    error = response.get("error") if isinstance(response, dict) else event.get("error", event)
    if isinstance(error, dict):
        return error
    return {"message": str(error) if error else "upstream reported a failure"}
