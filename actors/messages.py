"""The closed vocabulary the actors speak. Every message is frozen; a request that needs an
answer carries its own reply channel, and a piece of work that another task may need to stop
carries the `trio.CancelScope` it runs in (the requester cancels it when it stops caring)."""

from __future__ import annotations

from typing import Any, Protocol

import attrs
import trio

from config.model import Credential, Target
from protocols.chat import ChatRequest
from protocols.errors import BatonError
from protocols.failures import UpstreamFailure

# ---- edge <-> supervisor -------------------------------------------------------------------


@attrs.frozen
class Provenance:
    """Who served a call and how: becomes the `x-baton-*` headers."""

    provider: str | None
    model: str | None
    attempts: int
    route: str

    def headers(self) -> dict[str, str]:
        headers = {"x-baton-attempts": str(self.attempts), "x-baton-route": self.route}
        if self.provider is not None and self.model is not None:
            headers["x-baton-provider"] = self.provider
            headers["x-baton-model"] = self.model
        return headers


@attrs.frozen
class Call:
    request: ChatRequest
    deadline: float
    reply: trio.MemorySendChannel[CallEvent] = attrs.field(repr=False)
    scope: trio.CancelScope = attrs.field(factory=trio.CancelScope, repr=False)
    # A Responses call: the request as a provider of kind openai-responses gets it, untranslated
    native: dict[str, Any] | None = attrs.field(default=None, repr=False)


@attrs.frozen
class Completed:
    """A whole non-streamed reply: the upstream's body bytes, passed through."""

    provenance: Provenance
    body: bytes = attrs.field(repr=False)
    native: bool = False  # a Responses object from the upstream itself, not a Chat completion


@attrs.frozen
class StreamStarted:
    """A stream is committed to one upstream; `StreamData` follows, then an end event.
    `native`: the data are the upstream's own Responses events, not Chat chunks."""

    provenance: Provenance
    native: bool = False


@attrs.frozen
class StreamData:
    data: bytes = attrs.field(repr=False)  # whole SSE events, already framed


@attrs.frozen
class StreamEnded:
    pass


@attrs.frozen
class StreamBroke:
    """The committed upstream failed mid-stream: the edge ends the stream with an error event."""

    failure: UpstreamFailure


@attrs.frozen
class Failed:
    error: BatonError
    provenance: Provenance


@attrs.frozen
class Streaming:
    """A call's stream, committed to one upstream: `first` is for the client now, `relay`
    gives the rest on demand under the call's deadline (and must be closed)."""

    provenance: Provenance
    first: bytes = attrs.field(repr=False)
    relay: UpstreamEvents = attrs.field(repr=False)
    native: bool = False


CallEvent = Completed | StreamStarted | StreamData | StreamEnded | StreamBroke | Failed
CallOutcome = Completed | Streaming | Failed

# ---- supervisor <-> credential pool ----------------------------------------------------------


@attrs.frozen
class KeyLease:
    index: int
    credential: Credential


@attrs.frozen
class NoKey:
    """Every key is cooling for this model; `until` is when the first one frees up."""

    until: float | None


@attrs.frozen
class Lease:
    model: str
    exclude: frozenset[int]
    reply: trio.MemorySendChannel[KeyLease | NoKey] = attrs.field(repr=False)


@attrs.frozen
class Release:
    index: int
    model: str
    failure: UpstreamFailure | None  # None: the key served (or, with served=False, was unused)
    served: bool = True


PoolMessage = Lease | Release

# ---- walk <-> provider ------------------------------------------------------------------------


@attrs.frozen
class Attempt:
    """One try of one target with one key; the provider runs it in the caller's task."""

    target: Target
    credential: Credential
    request: ChatRequest
    native: dict[str, Any] | None = attrs.field(default=None, repr=False)  # send this instead


@attrs.frozen
class AttemptSucceeded:
    body: bytes = attrs.field(repr=False)


@attrs.frozen
class AttemptFailed:
    failure: UpstreamFailure


@attrs.frozen
class AttemptStreaming:
    """The upstream's stream carries content: `first` holds every event up to and including
    it; `upstream` reads the rest on demand (and must be closed)."""

    first: bytes = attrs.field(repr=False)
    upstream: UpstreamEvents = attrs.field(repr=False)


class UpstreamEvents(Protocol):
    """A committed stream read on demand: `StreamData` until a last `StreamEnded` or
    `StreamBroke` (returned again if asked again)."""

    async def next_event(self) -> StreamData | StreamEnded | StreamBroke: ...
    async def aclose(self) -> None: ...


AttemptOutcome = AttemptSucceeded | AttemptFailed | AttemptStreaming
