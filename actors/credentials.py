"""The credential pool actor: leases a provider's keys one call at a time.

A thin loop around `KeyPool`. A lease request that finds every usable key at its concurrency
cap waits in a first-come-first-served queue; a release, or the end of a cooldown, serves the
queue in order. A lease that can be answered at once (nobody queued) and every release are
handled synchronously in the caller's task: on trio's one thread a method without an `await`
runs whole, exactly as the actor would handle the message, without a task switch each way.
The task is there for what needs waiting: the queue, and waking when a cooldown ends.

Replies to queued requests go out with `send_nowait` on the requester's one-slot channel, so
the actor never blocks on a requester; a requester that gave up has closed its channel, and a
key leased to it is put straight back.
"""

from __future__ import annotations

import math
from collections import deque

import attrs
import trio

from actors.keypool import Busy, Cooling, KeyPool
from actors.messages import KeyLease, Lease, NoKey, PoolMessage, Release
from actors.ratelimit_book import Go, RateLimitBook, WaitUntil
from protocols.failures import UpstreamFailure
from protocols.ratelimit_headers import WindowState
from protocols.usage import Usage


@attrs.frozen
class _Wait:
    """No key now; ask again at `at` (None: when a key is released)."""

    at: float | None


_BUSY = _Wait(None)


@attrs.define
class CredentialPool:
    pool: KeyPool
    book: RateLimitBook | None = None  # the provider's rate windows (the tracker's state)
    _send: trio.MemorySendChannel[PoolMessage] = attrs.field(init=False)
    _inbox: trio.MemoryReceiveChannel[PoolMessage] = attrs.field(init=False)
    _waiting: deque[Lease] = attrs.field(init=False, factory=deque)
    _wake: float = attrs.field(init=False, default=math.inf)

    def __attrs_post_init__(self) -> None:
        self._send, self._inbox = trio.open_memory_channel[PoolMessage](math.inf)

    # -- the requester's side ---------------------------------------------------------------

    async def lease(
        self,
        model: str,
        exclude: frozenset[int] = frozenset(),
        *,
        tokens: int = 1,
        deadline: float = math.inf,
        wait_for_room: bool = False,
    ) -> KeyLease | NoKey:
        """A key for one attempt at `model` of about `tokens` tokens. A key at its concurrency
        cap is waited for; a key without rate headroom is passed over for one with it, and
        when none has any, `NoKey(for_room=True)` says when one will, unless `wait_for_room`
        (then the request queues, first come first served, until there is room)."""
        request = Lease(model, exclude, None, tokens, deadline, wait_for_room)
        if not self._waiting:  # nobody queued: answer at once, as the actor itself would
            answer = self._try(request, trio.current_time())
            if not isinstance(answer, _Wait):
                return answer
        reply_send, reply_receive = trio.open_memory_channel[KeyLease | NoKey](1)
        with reply_receive:
            self._send.send_nowait(attrs.evolve(request, reply=reply_send))
            return await reply_receive.receive()

    def lease_now(self, model: str) -> KeyLease | None:
        """A key for a probe, only if one is free this instant (never waits, never queues
        ahead of callers): not cooling, under its cap, with rate headroom."""
        if self._waiting:
            return None
        answer = self._try(Lease(model, frozenset(), None), trio.current_time())
        return answer if isinstance(answer, KeyLease) else None

    def release(
        self,
        lease: KeyLease,
        model: str,
        failure: UpstreamFailure | None = None,
        *,
        served: bool = True,
        windows: tuple[WindowState, ...] = (),
        usage: Usage | None = None,
    ) -> None:
        """Give a key back: `failure` says what went wrong; `served=False` says nothing is known
        (the attempt was abandoned), so the key's record is left as it was. `windows`: what
        the upstream's headers said of its rate limits; `usage`: the tokens it reported, which
        replace the estimate the token windows counted."""
        book, reservation = self.book, lease.reservation
        if book is not None and reservation is not None:
            if usage is not None and usage.known:
                book.settle(reservation, usage.total, trio.current_time())
            retry_after = failure.retry_after if failure is not None else None
            if windows or retry_after is not None:
                book.observe(
                    reservation.key,
                    model,
                    windows,
                    trio.current_time(),
                    sent_at=reservation.at,
                    retry_after=retry_after,
                )
        self._on_release(Release(lease.index, model, failure, served))

    # -- the actor ------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            with trio.move_on_at(self._wake):
                message = await self._inbox.receive()
                if isinstance(message, Lease):
                    self._on_lease(message)
                else:
                    self._on_release(message)
                continue
            self._serve_waiting()

    def _on_lease(self, request: Lease) -> None:
        self._waiting.append(request)  # first come, first served: no overtaking the queue
        self._serve_waiting()

    def _on_release(self, release: Release) -> None:
        self.pool.release(release.index)
        if release.failure is None:
            if release.served:
                self.pool.record_success(release.index, release.model)
        else:
            self.pool.record_failure(
                release.index, release.model, release.failure, trio.current_time()
            )
        if self._waiting:
            self._serve_waiting()

    def _serve_waiting(self) -> None:
        still_waiting: deque[Lease] = deque()
        now = trio.current_time()
        wake = math.inf
        for request in self._waiting:
            if _abandoned(request):  # its caller gave up: a key must not count it as sent
                continue
            answer = self._try(request, now)
            if isinstance(answer, _Wait):
                still_waiting.append(request)
                # a busy key's release wakes the queue by message; a cooldown's end does not
                at = answer.at or self.pool.next_free_at(request.model, now, request.exclude)
                if at is not None:
                    wake = min(wake, at)
            else:
                self._answer(request, answer)
        self._waiting = still_waiting
        self._wake = wake

    def _try(self, request: Lease, now: float) -> KeyLease | NoKey | _Wait:
        """Answer `request` now if it can be: a key with room, or why there is none. Keys
        without rate headroom are passed over (and later ones tried)."""
        exclude = request.exclude
        room_at: float | None = None  # the earliest a passed-over key has room
        skipped_until: list[float] = []
        passed_over = False  # a key was skipped for want of rate headroom, not for a cooldown
        while True:
            outcome = self.pool.acquire(request.model, now, exclude)
            if isinstance(outcome, Busy):
                return _BUSY
            if isinstance(outcome, Cooling):
                if room_at is not None:  # a passed-over key has room within the deadline
                    if request.wait_for_room:
                        return _Wait(room_at)
                    return NoKey(room_at, for_room=True)
                ends = [t for t in (outcome.until, *skipped_until) if t is not None]
                return NoKey(min(ends) if ends else None, for_room=passed_over)
            key = self.pool.keys[outcome]
            if self.book is None:
                return KeyLease(outcome, key)
            decision = self.book.decide(
                key.alias, request.model, request.tokens, now, deadline=request.deadline
            )
            if isinstance(decision, Go):
                reservation = self.book.record(key.alias, request.model, request.tokens, now)
                return KeyLease(outcome, key, reservation)
            self.pool.release(outcome)
            exclude = exclude | {outcome}
            passed_over = True
            if isinstance(decision, WaitUntil):
                room_at = decision.at if room_at is None else min(room_at, decision.at)
            elif decision.until is not None:
                skipped_until.append(decision.until)

    def _answer(self, request: Lease, reply: KeyLease | NoKey) -> None:
        assert request.reply is not None, "only queued requests are answered by message"
        try:
            request.reply.send_nowait(reply)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            if isinstance(reply, KeyLease):  # the requester gave up: the key goes straight back
                self.pool.release(reply.index)


def _abandoned(request: Lease) -> bool:
    reply = request.reply
    return reply is not None and reply.statistics().open_receive_channels == 0
