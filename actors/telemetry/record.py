"""What one call through baton leaves behind: a `CallRecord`, written when the client's reply
has ended (a stream: when its last event is sent or the client left).

Every field is plain data: times are unix seconds (`started`) and durations seconds, keys are
named by alias (`alpha#1`) and clients by their key's id (`client#1`), never a secret. The edge
builds the record; the telemetry actor stores it, sums it up for /stats and /metrics, and logs
one line for it.
"""

from __future__ import annotations

from typing import Any

import attrs

from actors.messages import Hop
from protocols.usage import Usage

# How a call ended, from the client's side.
OK = "ok"  # a whole answer (a stream: ended by [DONE] / response.completed)
FAILED = "failed"  # an error reply before any output (4xx/5xx in the envelope)
CUT = "cut"  # a committed stream ended by an in-band error event
CANCELLED = "cancelled"  # the client left before the reply ended
OUTCOMES = (OK, FAILED, CUT, CANCELLED)


@attrs.frozen
class CallRecord:
    request_id: str
    started: float  # unix seconds, when the request was read
    endpoint: str  # "chat", "responses", "responses-ws"
    client: str | None  # the client key's id ("client#1"); None on an open gateway
    model: str  # what the client asked for: a virtual model, provider/model or a bare name
    stream: bool
    status: int  # the HTTP status the client got
    outcome: str  # one of OUTCOMES
    hops: tuple[Hop, ...] = ()
    provider: str | None = None  # who served it (None: nobody did)
    served_model: str | None = None
    error: str | None = None  # the error code the client saw, if any
    ttft: float | None = None  # seconds to the first content sent to the client
    duration: float = 0.0  # seconds, request read to reply ended
    usage: Usage = attrs.field(factory=Usage)
    cost: float | None = None  # USD, from the price table; None: no price for the model

    @property
    def route(self) -> str:
        return ",".join(f"{hop.label}={hop.mark}" for hop in self.hops)

    @property
    def attempts(self) -> int:
        return sum(1 for hop in self.hops if hop.attempted)

    @property
    def failover(self) -> bool:
        """Served by other than the first candidate tried (or passed over): another key of
        the same candidate, or a retry of it after a wait for room, is no failover."""
        return self.provider is not None and self.hops[0].label != self.hops[-1].label

    @property
    def key(self) -> str | None:
        """The alias of the key that served the call."""
        if self.provider is None or not self.hops:
            return None
        return self.hops[-1].key

    @property
    def tokens_per_second(self) -> float | None:
        if not self.usage.output or self.ttft is None or self.duration <= self.ttft:
            return None
        return self.usage.output / (self.duration - self.ttft)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, for logs and the dashboard."""
        data = attrs.asdict(self, recurse=True)
        data.update(route=self.route, attempts=self.attempts, key=self.key)
        data["failover"] = self.failover
        data["tokens_per_second"] = self.tokens_per_second
        return data
