"""One call's walk down its chain, under one deadline.

For each target in turn: lease a key from the provider's pool, hand the attempt to the provider
actor, and act on the outcome by its failure class (see `protocols.failures`): rate-limit and
auth failures try the provider's next key, then the next target; server, timeout, connect,
malformed, not-found and context-length failures go to the next target; a caller fault goes
straight back to the client. A target whose keys are all cooling is skipped without a call.

A stream is committed once the attempt reports content; from then on the walk only relays, and
an upstream failure is reported in-band (`StreamBroke`), never followed by another candidate.
"""

from __future__ import annotations

import attrs
import trio

from actors.credentials import CredentialPool
from actors.messages import (
    Attempt,
    AttemptFailed,
    AttemptStreaming,
    AttemptSucceeded,
    Call,
    CallEvent,
    Completed,
    Failed,
    KeyLease,
    NoKey,
    Provenance,
    StreamBroke,
    StreamData,
    StreamEnded,
    StreamStarted,
)
from actors.provider import ProviderActor
from actors.routing import Router
from config.model import Target
from protocols.errors import (
    AllRateLimited,
    BatonError,
    DeadlineExceeded,
    ModelNotFound,
    NoCandidate,
    UpstreamFailed,
    UpstreamRejected,
)
from protocols.failures import FailureClass, UpstreamFailure

_RATE_LIMIT_FALLBACK_WAIT = 10.0
_DEADLINE = UpstreamFailure(FailureClass.TIMEOUT, "the call's deadline ran out")


@attrs.define
class Walk:
    call: Call
    router: Router
    pools: dict[str, CredentialPool]
    providers: dict[str, ProviderActor]
    trail: list[str] = attrs.field(factory=list)
    attempts: int = 0
    failures: list[tuple[Target, UpstreamFailure]] = attrs.field(factory=list)
    waits: list[float] = attrs.field(factory=list)  # seconds until a skipped target frees up
    only_rate_limits: bool = True
    _answered: bool = False

    async def run(self) -> None:
        model = self.call.request.model
        chain = self.router.chain_for(model)
        if chain is None:
            await self._fail(ModelNotFound(f"The model '{model}' does not exist", param="model"))
            return
        if not chain:
            await self._fail(
                NoCandidate(
                    f"no provider is configured for '{model}': set a provider's API key and restart"
                )
            )
            return
        for target in chain:
            if self._deadline_passed() or await self._try_target(target):
                break
        else:
            await self._fail(self._final_error())
            return
        if self._deadline_passed() and not self._answered:
            await self._fail(
                DeadlineExceeded(
                    f"no candidate answered within the call's deadline ({self._summary()})"
                )
            )

    async def _try_target(self, target: Target) -> bool:
        """True when the call is answered (or must end); False to go on to the next target."""
        pool = self.pools[target.provider]
        tried: frozenset[int] = frozenset()
        while True:
            lease = None
            with trio.move_on_at(self.call.deadline):
                lease = await pool.lease(target.model, tried)
            if lease is None:
                return True
            if isinstance(lease, NoKey):
                if not tried:  # a target already attempted shows in the trail as its failure
                    self.trail.append(f"{target.label}=cooling")
                if lease.until is not None:
                    self.waits.append(lease.until - trio.current_time())
                return False
            failure = await self._attempt(target, pool, lease)
            if failure is None or self._answered:
                return True
            self.trail.append(f"{target.label}={failure.trail_mark}")
            self.failures.append((target, failure))
            if failure is _DEADLINE:
                return True
            if failure.failure.returns_to_caller:
                await self._fail(
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
        send, receive = trio.open_memory_channel[object](8)
        provider = self.providers[target.provider]
        native = self.call.native if provider.config.kind == "openai-responses" else None
        attempt = Attempt(
            target, lease.credential, self.call.request, self.call.deadline, send, native=native
        )
        self.attempts += 1
        provider.submit(attempt)
        outcome: UpstreamFailure | None = None
        released = False
        try:
            with receive:
                event = await self._next(receive)
                if isinstance(event, AttemptSucceeded):
                    pool.release(lease, target.model)
                    released = True
                    self.trail.append(f"{target.label}=200")
                    await self._answer(
                        Completed(self._provenance(target), event.body, native=native is not None)
                    )
                    return None
                if isinstance(event, AttemptFailed):
                    pool.release(lease, target.model, event.failure)
                    released = True
                    return event.failure
                if event is None:
                    return _DEADLINE
                assert isinstance(event, AttemptStreaming), event
                self.trail.append(f"{target.label}=200")
                await self._answer(
                    StreamStarted(self._provenance(target), native=native is not None)
                )
                await self.call.reply.send(StreamData(event.first))
                outcome = await self._relay(receive)
                pool.release(lease, target.model, outcome)
                released = True
                return None
        finally:
            attempt.scope.cancel()
            if not released:
                pool.release(lease, target.model, served=False)

    async def _relay(self, receive: trio.MemoryReceiveChannel[object]) -> UpstreamFailure | None:
        """Relay a committed stream to the client; returns the upstream's failure, if any."""
        while True:
            event = await self._next(receive)
            if event is None:
                await self.call.reply.send(StreamBroke(_DEADLINE))
                return None
            if isinstance(event, StreamData):
                await self.call.reply.send(event)
            elif isinstance(event, StreamEnded):
                await self.call.reply.send(event)
                return None
            else:
                assert isinstance(event, StreamBroke), event
                await self.call.reply.send(event)
                return event.failure

    async def _next(self, receive: trio.MemoryReceiveChannel[object]) -> object | None:
        """The attempt's next event; None if the deadline came first."""
        with trio.move_on_at(self.call.deadline):
            try:
                return await receive.receive()
            except trio.EndOfChannel:
                return AttemptFailed(
                    UpstreamFailure(FailureClass.SERVER, "the attempt ended without an answer")
                )
        return None

    async def _answer(self, event: CallEvent) -> None:
        self._answered = True
        await self.call.reply.send(event)

    async def _fail(self, error: BatonError) -> None:
        await self._answer(Failed(error, self._provenance(None)))

    def _final_error(self) -> BatonError:
        if not self.trail:
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
        return UpstreamFailed(f"every candidate failed ({self._summary()})")

    def _summary(self) -> str:
        parts = [f"{target.label}: {failure.message}" for target, failure in self.failures]
        parts += [hop for hop in self.trail if hop.endswith("=cooling")]
        return "; ".join(parts) or "nothing was tried"

    def _deadline_passed(self) -> bool:
        return trio.current_time() >= self.call.deadline

    def _provenance(self, target: Target | None) -> Provenance:
        return Provenance(
            provider=target.provider if target else None,
            model=target.model if target else None,
            attempts=self.attempts,
            route=",".join(self.trail),
        )
