"""One call's measurements at the edge, ending in the `CallRecord` the telemetry keeps.

`CallMeter.start` counts the call in flight; `finish` counts it out, exactly once, with how it
ended. A streamed reply's body is wrapped by `MeteredStream`, which notes the first content
sent (time to first token) and how the stream ended: its last event was `[DONE]` (ok), an
in-band error (cut), or the server closed it before either (the client left: cancelled; or
the gateway stopped it: cut).
"""

from __future__ import annotations

import time
from typing import Any

from actors.messages import Hop, Provenance
from actors.telemetry.actor import Telemetry
from actors.telemetry.record import CANCELLED, CUT, FAILED, OK, CallRecord
from edge.incoming import Incoming
from protocols.usage import Usage


def request_id_of(request: Incoming) -> str:
    """The id this call is known by in records and logs (and the reply's `x-request-id`)."""
    return request.request_id


class CallMeter:
    __slots__ = (
        "_done",
        "_started",
        "_telemetry",
        "client",
        "endpoint",
        "hops",
        "model",
        "request_id",
        "started_wall",
        "stream",
        "ttft",
    )

    def __init__(
        self,
        telemetry: Telemetry,
        request_id: str,
        endpoint: str,
        client: str | None,
        model: str,
        stream: bool,
    ) -> None:
        self._telemetry = telemetry
        self.request_id = request_id
        self.endpoint = endpoint
        self.client = client
        self.model = model
        self.stream = stream
        self.started_wall = time.time()
        self._started = time.perf_counter()
        self.ttft: float | None = None
        self.hops: list[Hop] = []  # the walk's trail as it grows (see Supervisor.call)
        self._done = False
        telemetry.call_started()

    def first_content(self) -> None:
        if self.ttft is None:
            self.ttft = time.perf_counter() - self._started

    def finish(
        self,
        status: int,
        outcome: str,
        provenance: Provenance | None,
        *,
        usage: Usage | None = None,
        error: str | None = None,
    ) -> None:
        if self._done:
            return
        self._done = True
        duration = time.perf_counter() - self._started
        if provenance is None and self.hops:  # cancelled mid-walk: what it tried still counts
            attempts = sum(1 for hop in self.hops if hop.attempted)
            provenance = Provenance(None, None, attempts, tuple(self.hops))
        served = provenance is not None and provenance.provider is not None
        self._telemetry.record(
            CallRecord(
                request_id=self.request_id,
                started=self.started_wall,
                endpoint=self.endpoint,
                client=self.client,
                model=self.model,
                stream=self.stream,
                status=status,
                outcome=outcome,
                hops=provenance.hops if provenance is not None else (),
                provider=provenance.provider if served and provenance else None,
                served_model=provenance.model if served and provenance else None,
                error=error,
                ttft=self.ttft,
                duration=duration,
                usage=usage or Usage(),
                cost=self._telemetry.cost_of(provenance, usage) if served else None,
            )
        )

    def failed(self, status: int, error: str | None, provenance: Provenance | None) -> None:
        self.finish(status, FAILED, provenance, error=error)


class MeteredStream:
    """A streamed reply's body, measured: delegates to `inner` (an async iterator of bytes
    with `aclose` and maybe `farewell`), ending `meter` when it ends. What `inner` may say of
    itself: `outcome` and `error_code` once it has ended, `usage`, `provenance` (when it
    learns who serves it only as it goes), `has_output` (False while it sends no content)."""

    def __init__(self, inner: Any, meter: CallMeter, provenance: Provenance | None) -> None:
        self._inner = inner
        self._meter = meter
        self._provenance = provenance
        self._outcome: str | None = None
        self._error: str | None = None
        if getattr(inner, "farewell", None) is None:
            self.farewell = None  # type: ignore[assignment]  # cut short, as the inner would be

    def __aiter__(self) -> MeteredStream:
        return self

    async def __anext__(self) -> bytes:
        try:
            chunk: bytes = await self._inner.__anext__()
        except StopAsyncIteration:
            if self._outcome is None:
                self._outcome = getattr(self._inner, "outcome", OK)
            raise
        if getattr(self._inner, "has_output", True):  # a Responses stream opens with no content
            self._meter.first_content()
        return chunk

    def farewell(self) -> bytes:
        data: bytes = self._inner.farewell()
        if data and self._outcome is None:  # it did cut the stream short
            self._outcome, self._error = CUT, "shutting_down"
        return data

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            outcome = self._outcome or CANCELLED
            error = self._error or getattr(self._inner, "error_code", None)
            usage = getattr(self._inner, "usage", None)
            provenance = getattr(self._inner, "provenance", None) or self._provenance
            self._meter.finish(200, outcome, provenance, usage=usage, error=error)
