"""One call's walk down its chain, under one deadline.

For each target in turn: lease a key from the provider's pool, hand the attempt to the provider
actor, and act on the outcome by its failure class (see `protocols.failures`): rate-limit and
auth failures try the provider's next key, then the next target; server, timeout, connect,
malformed, not-found and context-length failures go to the next target; a caller fault goes
straight back to the client. A target whose keys are all cooling is skipped without a call.

The walk runs in the task the supervisor gives its call (`Supervisor._serve`) and returns what
it found: a whole answer, an error, or a stream committed once the attempt reports content.
A committed stream comes back as a `Relay` the supervisor forwards on the call's reply
channel; an upstream failure after that is reported in-band (`StreamBroke`), never followed
by another candidate.
"""

from __future__ import annotations

import attrs
import trio

from actors.capabilities import target_skip
from actors.credentials import CredentialPool
from actors.health import HealthChecker
from actors.messages import (
    Attempt,
    AttemptFailed,
    AttemptSucceeded,
    CallOutcome,
    Completed,
    Failed,
    Hop,
    KeyLease,
    Native,
    NoKey,
    Provenance,
    StreamBroke,
    StreamData,
    StreamEnded,
    Streaming,
    UpstreamEvents,
    UpstreamRequest,
)
from actors.provider import ProviderActor
from actors.ratelimit_book import estimate_tokens
from actors.routing import Router, effective_chain
from actors.supervision import ActorUnavailable
from config.model import Target
from protocols import jsoncodec
from protocols.anthropic.upstream_reply import usage_of_message
from protocols.embeddings import EmbeddingsRequest
from protocols.errors import (
    AllOverloaded,
    AllRateLimited,
    BatonError,
    DeadlineExceeded,
    ModelNotFound,
    NoCandidate,
    NoCapableCandidate,
    UpstreamFailed,
    UpstreamRejected,
)
from protocols.failures import FailureClass, UpstreamFailure
from protocols.needs import Needs, needs_of_chat, needs_of_embeddings
from protocols.ratelimit_headers import WindowState
from protocols.usage import Usage, usage_of_completion_body

_RATE_LIMIT_FALLBACK_WAIT = 10.0
_DEADLINE = UpstreamFailure(FailureClass.TIMEOUT, "the call's deadline ran out")


@attrs.define
class Walk:
    request: UpstreamRequest
    deadline: float
    native: Native | None
    router: Router
    pools: dict[str, CredentialPool]
    providers: dict[str, ProviderActor]
    health: HealthChecker | None = None  # its view orders the chain; told each outcome
    hops: list[Hop] = attrs.field(factory=list)
    attempts: int = 0
    failures: list[tuple[Target, UpstreamFailure]] = attrs.field(factory=list)
    waits: list[float] = attrs.field(factory=list)  # seconds until a skipped target frees up
    only_rate_limits: bool = True
    room: list[tuple[float, Target]] = attrs.field(factory=list)  # when a rate window has room
    skipped: list[tuple[Target, str]] = attrs.field(factory=list)  # could not take it, and why
    _outcome: CallOutcome | None = None
    _tokens: int = attrs.field(init=False)
    _needs: Needs = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._tokens = estimate_tokens(self.request.size)
        request = self.request
        if isinstance(request, EmbeddingsRequest):
            self._needs = needs_of_embeddings(request.size)
        else:
            self._needs = needs_of_chat(request.payload, request.size)

    async def run(self) -> CallOutcome:
        """Walk the chain; the answer, a committed stream, or why there is neither."""
        model = self.request.model
        if self.health is None:
            chain = self.router.chain_for(model)
        else:
            chain = effective_chain(self.router, self.health.view, model, trio.current_time())
        if chain is None:
            return self._failed(ModelNotFound(f"The model '{model}' does not exist", param="model"))
        if not chain:
            return self._failed(
                NoCandidate(
                    f"no provider is configured for '{model}': set a provider's API key and restart"
                )
            )
        for target in chain:
            reason = self._native_only(target) or target_skip(
                self.router.config, target, self._needs
            )
            if reason is not None:
                self.hops.append(Hop(target.provider, target.model, f"skip:{reason}"))
                self.skipped.append((target, reason))
                continue
            if self._deadline_passed() or await self._try_target(target):
                break
        else:
            if len(self.skipped) == len(chain):
                return self._failed(self._none_capable(model))
            # Every candidate was passed over or failed. If one was only short of room in a
            # rate window that opens before the deadline, queue for it rather than fail.
            soonest = min(self.room, key=lambda room: room[0], default=None)
            if soonest is None or not await self._try_target(soonest[1], wait_for_room=True):
                return self._failed(self._final_error())
        if self._outcome is not None:
            return self._outcome
        return self._failed(
            DeadlineExceeded(
                f"no candidate answered within the call's deadline ({self._summary()})"
            )
        )

    async def _try_target(self, target: Target, *, wait_for_room: bool = False) -> bool:
        """True when the call is answered (or must end); False to go on to the next target."""
        pool = self.pools[target.provider]
        tried: frozenset[int] = frozenset()
        while True:
            lease = None
            with trio.move_on_at(self.deadline):
                try:
                    lease = await pool.lease(
                        target.model,
                        tried,
                        tokens=self._tokens,
                        deadline=self.deadline,
                        wait_for_room=wait_for_room,
                    )
                except ActorUnavailable:  # the pool (or its tracker) failed: as a failed target
                    self.hops.append(Hop(target.provider, target.model, "unavailable"))
                    self.only_rate_limits = False
                    return False
            if lease is None:
                return True
            if isinstance(lease, NoKey):
                if not tried:  # a target already attempted shows in the trail as its failure
                    mark = "full" if lease.for_room else "cooling"
                    self.hops.append(Hop(target.provider, target.model, mark))
                if lease.until is not None:
                    self.waits.append(lease.until - trio.current_time())
                    if lease.for_room and lease.until < self.deadline:
                        self.room.append((lease.until, target))
                return False
            failure = await self._attempt(target, pool, lease)
            if failure is None or self._outcome is not None:
                return True
            self.failures.append((target, failure))
            if failure is _DEADLINE:
                return True
            if failure.failure.returns_to_caller:
                self._failed(
                    UpstreamRejected(
                        failure.status or 400,
                        failure.message,
                        type=failure.type,
                        code=failure.code,
                        param=failure.param,
                    )
                )
                return True
            if failure.failure is FailureClass.RATE_LIMIT:
                self.waits.append(failure.retry_after or _RATE_LIMIT_FALLBACK_WAIT)
            else:
                self.only_rate_limits = False
            if not failure.failure.tries_next_key:
                return False
            tried = tried | {lease.index}

    async def _attempt(
        self, target: Target, pool: CredentialPool, lease: KeyLease
    ) -> UpstreamFailure | None:
        """Run one attempt; None once the call is answered, else why the attempt failed."""
        provider = self.providers[target.provider]
        native = None if self.native is None else self.native.for_kind(provider.config.kind)
        attempt = Attempt(target, lease.credential, self.request, native=native)
        self.attempts += 1
        outcome = None
        sent = trio.current_time()
        try:
            with trio.move_on_at(self.deadline):
                outcome = await provider.attempt(attempt)
        finally:
            if outcome is None:  # cancelled, or out of time: nothing is known of the key
                await pool.release(lease, target.model, served=False)
        latency = trio.current_time() - sent
        alias = lease.credential.alias
        if outcome is None:
            self._hop(target, _DEADLINE, alias, latency)
            return _DEADLINE
        if isinstance(outcome, AttemptFailed):
            await pool.release(lease, target.model, outcome.failure, windows=outcome.windows)
            self._observe(target, outcome.failure.failure, None)
            self._hop(target, outcome.failure, alias, latency)
            return outcome.failure
        self._observe(target, None, latency)
        self.hops.append(Hop(target.provider, target.model, "200", alias, latency=latency))
        if isinstance(outcome, AttemptSucceeded):
            usage = usage_of_reply(native, outcome.body)
            await pool.release(lease, target.model, windows=outcome.windows, usage=usage)
            self._outcome = Completed(
                self._provenance(target), outcome.body, native=native is not None, usage=usage
            )
            return None
        relay = Relay(outcome.upstream, self.deadline, pool, lease, target.model, outcome.windows)
        self._outcome = Streaming(
            self._provenance(target), outcome.first, relay, native=native is not None
        )
        return None

    def _hop(self, target: Target, failure: UpstreamFailure, alias: str, latency: float) -> None:
        self.hops.append(
            Hop(
                target.provider,
                target.model,
                failure.trail_mark,
                alias,
                failure.failure.value,
                latency,
                failure.message,
            )
        )

    def _observe(self, target: Target, failure: FailureClass | None, latency: float | None) -> None:
        if self.health is not None:
            self.health.observe_call(target.provider, failure, latency)

    def _failed(self, error: BatonError) -> Failed:
        outcome = self._outcome = Failed(error, self._provenance(None))
        return outcome

    def _native_only(self, target: Target) -> str | None:
        """`untranslatable` for a provider that cannot take a request with no Chat form."""
        native = self.native
        if native is None or not native.required:
            return None
        kind = self.providers[target.provider].config.kind
        return None if native.for_kind(kind) is not None else "untranslatable"

    def _none_capable(self, model: str) -> BatonError:
        why = "; ".join(f"{target.label}: {reason}" for target, reason in self.skipped)
        return NoCapableCandidate(
            f"no candidate of '{model}' can take this request ({why})", param="model"
        )

    def _final_error(self) -> BatonError:
        if not self.hops:
            return NoCandidate("no candidate could be tried")
        if self.only_rate_limits:
            wait = min(self.waits) if self.waits else _RATE_LIMIT_FALLBACK_WAIT
            return AllRateLimited(
                f"every candidate is rate limited or cooling down ({self._summary()})",
                retry_after=max(wait, 0.0),
            )
        classes = {failure.failure for _, failure in self.failures}
        if classes == {FailureClass.CONTEXT_LENGTH}:
            _, last = self.failures[-1]
            return UpstreamRejected(
                400,
                last.message,
                type="invalid_request_error",
                code="context_length_exceeded",
                param="messages",
            )
        if self.failures and all(_overloaded(failure) for _, failure in self.failures):
            return AllOverloaded(f"every candidate is overloaded ({self._summary()})")
        return UpstreamFailed(f"every candidate failed ({self._summary()})")

    def _summary(self) -> str:
        parts = [f"{target.label}: {failure.message}" for target, failure in self.failures]
        parts += [f"{hop.label}={hop.mark}" for hop in self.hops if not hop.attempted]
        return "; ".join(parts) or "nothing was tried"

    def _deadline_passed(self) -> bool:
        return trio.current_time() >= self.deadline

    def _provenance(self, target: Target | None) -> Provenance:
        return Provenance(
            provider=target.provider if target else None,
            model=target.model if target else None,
            attempts=self.attempts,
            hops=tuple(self.hops),
        )


class Relay:
    """A committed stream under the call's deadline: what the edge reads. The key is given
    back, with how the stream ended, when the stream ends or is closed."""

    def __init__(
        self,
        upstream: UpstreamEvents,
        deadline: float,
        pool: CredentialPool,
        lease: KeyLease,
        model: str,
        windows: tuple[WindowState, ...] = (),
    ) -> None:
        self._upstream = upstream
        self._windows = windows
        self._deadline = deadline
        self._pool = pool
        self._lease: KeyLease | None = lease
        self._model = model

    async def next_event(self) -> StreamData | StreamEnded | StreamBroke:
        event: StreamData | StreamEnded | StreamBroke = StreamBroke(_DEADLINE)
        with trio.move_on_at(self._deadline):
            event = await self._upstream.next_event()
        if not isinstance(event, StreamData) and self._lease is not None:
            failure = event.failure if isinstance(event, StreamBroke) else None
            if failure is _DEADLINE:
                failure = None
            lease, self._lease = self._lease, None
            await self._pool.release(
                lease, self._model, failure, windows=self._windows, usage=self.usage
            )
        return event

    @property
    def usage(self) -> Usage | None:
        return getattr(self._upstream, "usage", None)

    async def aclose(self) -> None:
        if self._lease is not None:  # the client left mid-stream: nothing is known of the key
            lease, self._lease = self._lease, None
            await self._pool.release(lease, self._model, served=False)
        await self._upstream.aclose()


OVERLOADED_STATUSES = (503, 529)  # 529: Anthropic's own status for overloaded_error


def _overloaded(failure: UpstreamFailure) -> bool:
    return failure.failure is FailureClass.SERVER and (
        failure.status in OVERLOADED_STATUSES or failure.code == "overloaded_error"
    )


def usage_of_reply(native: Native | None, body: bytes) -> Usage | None:
    """The tokens a whole reply reported: a Chat completion's, or a native Messages reply's.
    A native Responses reply's are read by the edge, which parses that reply anyway."""
    if native is None:
        return usage_of_completion_body(body)
    if native.protocol != "messages":
        return None
    try:
        return usage_of_message(jsoncodec.loads(body))
    except (ValueError, RecursionError):
        return None
