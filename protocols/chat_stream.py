"""The gate a streamed Chat reply passes through on its way to the client.

Upstream bytes go in as they arrive (split anywhere); out come whole, re-framed SSE events.
The gate holds everything back until the first event with content (text, reasoning, a tool
call or a finish reason): until then the stream can still be abandoned for another candidate
without the client seeing a byte. It opens (`committed`) with everything held so far, then lets
each event through. `[DONE]` is consumed, not passed on: the edge writes its own at the end.

A stream is whole when it sent `[DONE]` or a finish reason. `end()` is called when the upstream
body ends; a stream that stopped short raises `UpstreamFault` (a cut: code `upstream_cut`),
and one that never formed a single event is malformed. A failure found in the same bytes as
content that was let through does not swallow that content: `feed` returns it and keeps the
failure in `fault`, which the caller raises once the content is on its way.
"""

from __future__ import annotations

import attrs

from protocols import sse
from protocols.chat import inspect_chunk
from protocols.failures import FailureClass, UpstreamFailure, UpstreamFault, cut
from protocols.stream_gate import StreamGate
from protocols.stream_usage import UsageTap


@attrs.define
class ChatStreamGate(StreamGate):
    finished: bool = False  # some choice carried a finish reason
    usage: UsageTap | None = None  # reads (and, unless the client asked, strips) usage chunks

    def _done_marker(self) -> None:
        self.done = True

    def _take(self, data: str) -> bytes:
        if self.usage is not None:
            tapped = self.usage.take(data)
            if tapped is None:
                return b""
            data = tapped if isinstance(tapped, str) else tapped.decode()
        try:
            info = inspect_chunk(data)
        except ValueError as exc:
            raise UpstreamFault(
                UpstreamFailure(
                    FailureClass.MALFORMED, f"upstream sent a malformed stream event: {exc}"
                )
            ) from None
        if info.error is not None:
            raise UpstreamFault(info.error)
        self.finished = self.finished or info.finish_reason is not None
        return self._hold(sse.encode_data(data), commits=info.content)

    def end(self) -> bytes:
        """The upstream body ended: what is still held (a reply with no content), or a fault."""
        if self.fault is not None:
            raise UpstreamFault(self.fault)
        if not self.done and not self.finished:
            if not self.started:
                raise UpstreamFault(
                    UpstreamFailure(FailureClass.MALFORMED, "upstream sent no event-stream events")
                )
            raise UpstreamFault(cut("upstream closed the stream before it finished"))
        self.committed = True
        return self._release()
