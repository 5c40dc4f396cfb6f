"""The closed vocabulary the actors speak. Every message is frozen; a request that needs an
answer carries its own reply channel, and a piece of work that another task may need to stop
carries the `trio.CancelScope` it runs in (the requester cancels it when it stops caring)."""

from __future__ import annotations

import contextvars
import math
from typing import Any, Protocol

import attrs
import trio

from actors.ratelimit_book import Reservation, Skip, WaitUntil
from config.model import NATIVE_PROTOCOL, Credential, Target
from protocols.chat import ChatRequest
from protocols.embeddings import EmbeddingsRequest
from protocols.errors import BatonError
from protocols.failures import FailureClass, UpstreamFailure
from protocols.ratelimit_headers import WindowState
from protocols.usage import Usage

# ---- edge <-> supervisor -------------------------------------------------------------------

# What a call asks of an upstream: a completion (Chat, and Responses and Messages translated to
# Chat), or embeddings. Both say `model`, `stream`, `size` and `body_for(model)`.
UpstreamRequest = ChatRequest | EmbeddingsRequest


@attrs.frozen
class Hop:
    """One step of a call's walk down its chain, for the route header, telemetry and logs.
    `mark` is how it shows in `x-baton-route`: `200`, an error status, a failure class
    (`timeout`, ...), or `cooling` / `full` for a target passed over without an attempt."""

    provider: str
    model: str
    mark: str
    key: str | None = None  # the alias of the key the attempt used; never the secret
    failure: str | None = None  # the failure class, for a failed attempt
    latency: float | None = None  # seconds from sending to the answer (a stream: its commit)
    message: str | None = None  # why it failed, scrubbed of secrets

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.model}"

    @property
    def attempted(self) -> bool:
        return self.key is not None


@attrs.frozen
class Provenance:
    """Who served a call and how: becomes the `x-baton-*` headers."""

    provider: str | None
    model: str | None
    attempts: int
    hops: tuple[Hop, ...] = ()

    @property
    def route(self) -> str:
        return ",".join(f"{hop.label}={hop.mark}" for hop in self.hops)

    def headers(self) -> dict[str, str]:
        """None for a call never routed (an unknown model): an empty route says nothing."""
        if not self.hops:
            return {}
        headers = {"x-baton-attempts": str(self.attempts), "x-baton-route": self.route}
        if self.provider is not None and self.model is not None:
            headers["x-baton-provider"] = self.provider
            headers["x-baton-model"] = self.model
        return headers


@attrs.frozen
class Native:
    """A call's request in the client's own protocol, for a provider that speaks it: a
    Responses request for `kind: openai-responses`, a Messages request for `kind: anthropic`
    (`config.model.NATIVE_PROTOCOL`). Every other provider gets the Chat translation.
    `headers`: what the client sent that such an upstream reads (`anthropic-version`,
    `anthropic-beta`); never a credential."""

    protocol: str  # "responses" | "messages"
    payload: dict[str, Any] = attrs.field(repr=False)
    headers: tuple[tuple[str, str], ...] = ()
    required: bool = False  # it has no Chat form: only a provider that speaks it can serve it

    def for_kind(self, kind: str) -> Native | None:
        """This request, if a provider of `kind` takes it untranslated."""
        return self if NATIVE_PROTOCOL.get(kind) == self.protocol else None


@attrs.frozen
class Call:
    request: UpstreamRequest
    deadline: float
    reply: trio.MemorySendChannel[CallEvent] = attrs.field(repr=False)
    scope: trio.CancelScope = attrs.field(factory=trio.CancelScope, repr=False)
    native: Native | None = attrs.field(default=None, repr=False)
    request_id: str | None = None  # what the walk's log lines carry
    hops: list[Hop] | None = attrs.field(default=None, repr=False)  # the trail, as it grows
    # the requester's context (its log bindings: request_id): the walk's task runs in a copy
    context: contextvars.Context | None = attrs.field(default=None, repr=False, eq=False)


@attrs.frozen
class Completed:
    """A whole non-streamed reply: the upstream's body bytes, passed through."""

    provenance: Provenance
    body: bytes = attrs.field(repr=False)
    native: bool = False  # the upstream's own reply in the client's protocol (`Native`)
    usage: Usage | None = None  # the tokens the reply reported (a Chat completion's)


@attrs.frozen
class StreamStarted:
    """A stream is committed to one upstream; `StreamData` follows, then an end event.
    `native`: the data are the upstream's own events in the client's protocol (`Native`),
    not Chat chunks."""

    provenance: Provenance
    native: bool = False


@attrs.frozen
class StreamData:
    data: bytes = attrs.field(repr=False)  # whole SSE events, already framed


@attrs.frozen
class StreamEnded:
    usage: Usage | None = None  # the tokens the stream reported, if it did


@attrs.frozen
class StreamBroke:
    """The committed upstream failed mid-stream: the edge ends the stream with an error event."""

    failure: UpstreamFailure
    usage: Usage | None = None  # the tokens the stream reported before it broke


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
    reservation: Reservation | None = None  # what the rate-limit book counted for it


@attrs.frozen
class NoKey:
    """No key can be had now: `until` is when one may (None: not by itself). `for_room`: a key
    was passed over for want of rate headroom (the route says `full`), not only for cooldowns;
    whether to queue for it is the caller's call, by `until` against its deadline."""

    until: float | None
    for_room: bool = False


@attrs.frozen
class Lease:
    model: str
    exclude: frozenset[int]
    reply: trio.MemorySendChannel[KeyLease | NoKey] | None = attrs.field(repr=False)
    tokens: int = 1
    deadline: float = math.inf
    wait_for_room: bool = False  # queue until a rate window has room (within the deadline)


@attrs.frozen
class LeaseNow:
    """A probe's lease: a key only if one is free this instant (never queued, never ahead
    of callers); None otherwise."""

    model: str
    reply: trio.MemorySendChannel[KeyLease | None] = attrs.field(repr=False)


@attrs.frozen
class Release:
    index: int
    model: str
    failure: UpstreamFailure | None  # None: the key served (or, with served=False, was unused)
    served: bool = True


PoolMessage = Lease | LeaseNow | Release

# ---- credential pool / walk -> rate-limit tracker ----------------------------------------------


@attrs.frozen
class Admit:
    """May `key` send `model` a request of about `tokens` tokens now? If so the tracker counts
    it at once and answers the `Reservation`; if not, the book's `WaitUntil` or `Skip`."""

    key: str  # the key's alias
    model: str
    tokens: int
    deadline: float
    reply: trio.MemorySendChannel[Reservation | WaitUntil | Skip] = attrs.field(repr=False)


@attrs.frozen
class Settle:
    """The attempt `reservation` counted used `tokens` in all (the upstream's usage)."""

    reservation: Reservation
    tokens: int


@attrs.frozen
class Observe:
    """What a reply's headers (and Retry-After) said of `key`'s windows for `model`."""

    key: str
    model: str
    windows: tuple[WindowState, ...]
    sent_at: float | None = None
    retry_after: float | None = None


TrackerMessage = Admit | Settle | Observe

# ---- walk / probes -> health checker ------------------------------------------------------------


@attrs.frozen
class Observed:
    """A call (or, with `probe`, a probe) to `provider` ended at `at`: `failure` None for a
    success, with `latency` its seconds."""

    provider: str
    failure: FailureClass | None
    latency: float | None
    at: float
    probe: bool = False


HealthMessage = Observed

# ---- walk <-> provider ------------------------------------------------------------------------


@attrs.frozen
class Attempt:
    """One try of one target with one key: the one message a provider actor's inbox takes.

    The walk builds it with the first four fields and hands it to `ProviderActor.attempt`,
    which fills in the rest before sending it: `reply`, where the actor answers (see
    `AttemptReply`), and `scope`, the cancel scope the attempt runs in inside the actor (the
    requester cancels it when it stops caring: an answer came, the client left, the deadline
    passed)."""

    target: Target
    credential: Credential
    request: UpstreamRequest
    native: Native | None = attrs.field(default=None, repr=False)  # send this instead
    reply: trio.MemorySendChannel[AttemptReply] | None = attrs.field(
        default=None, repr=False, eq=False
    )
    scope: trio.CancelScope | None = attrs.field(default=None, repr=False, eq=False)


@attrs.frozen
class AttemptSucceeded:
    body: bytes = attrs.field(repr=False)
    windows: tuple[WindowState, ...] = ()  # what the upstream's headers said of its limits


@attrs.frozen
class AttemptFailed:
    failure: UpstreamFailure
    windows: tuple[WindowState, ...] = ()


@attrs.frozen
class AttemptCommitted:
    """The actor's word that a stream carries content: `first` holds every event up to and
    including it. `StreamData` follows on the same reply channel, then `StreamEnded` or
    `StreamBroke` (with `StreamUsage` before them when the upstream reported its usage)."""

    first: bytes = attrs.field(repr=False)
    windows: tuple[WindowState, ...] = ()


@attrs.frozen
class StreamUsage:
    """The token usage a committed stream reported (sent when it changes, before the events
    that follow it); the requester keeps it as `UpstreamEvents.usage`."""

    usage: Usage


@attrs.frozen
class AttemptStreaming:
    """The upstream's stream carries content: `first` holds every event up to and including
    it; `upstream` reads the rest on demand (and must be closed)."""

    first: bytes = attrs.field(repr=False)
    upstream: UpstreamEvents = attrs.field(repr=False)
    windows: tuple[WindowState, ...] = ()


class UpstreamEvents(Protocol):
    """A committed stream read on demand: `StreamData` until a last `StreamEnded` or
    `StreamBroke` (returned again if asked again)."""

    async def next_event(self) -> StreamData | StreamEnded | StreamBroke: ...
    async def aclose(self) -> None: ...

    @property
    def usage(self) -> Usage | None:
        """The token usage the stream reported so far (None: none yet, or it never does)."""


# What `ProviderActor.attempt` returns to the walk.
AttemptOutcome = AttemptSucceeded | AttemptFailed | AttemptStreaming
# What a provider actor sends on an attempt's reply channel: one of the first three, and after
# `AttemptCommitted` the stream's events.
AttemptReply = (
    AttemptSucceeded
    | AttemptFailed
    | AttemptCommitted
    | StreamData
    | StreamUsage
    | StreamEnded
    | StreamBroke
)
ProviderMessage = Attempt
