"""The credential pool actor: leases a provider's keys one call at a time.

A thin loop around `KeyPool`, reading `Lease`, `LeaseNow` and `Release` messages from a bounded
inbox; nothing else touches the `KeyPool`. Choosing a key is two questions: the pool's own
(not cooling, under its concurrency cap: `KeyPool.acquire`) and the rate-limit tracker's (room
in every window: an `Admit` it answers with a reservation, counted in the same step). A key the
tracker refuses is put back and the next one tried; when every key was refused for want of
headroom, the answer is `NoKey(for_room=True)` with when the soonest one will have room, or,
for a request that may wait (`wait_for_room`), a place in the queue until then.

The queue is first come, first served: a request that cannot be answered at once (every key
at its cap, or waiting for room) waits behind every earlier one, and is served in order when a
key is released or a cooldown or window ends. A requester that gave up (closed its reply
channel) is dropped from the queue unserved, so a window never counts a request nobody sent;
a key leased to a requester that left in the meantime goes straight back.

Overload and failure: `lease` waits for room in the inbox under the caller's deadline;
`release` is never dropped (it waits, shielded, if the inbox is full: a lost release would hold
a key forever). If the pool's task dies, the requests it holds are answered by closing their
reply channels: their walks skip this provider as failed (`ActorUnavailable`). So are the ones
whose `Admit` the tracker drops, or leaves waiting while it handles nothing for
`TRACKER_PATIENCE` (a tracker that a busy event loop schedules late is waited for). The
`KeyPool` lives on the actor object, so a restarted pool keeps every cooldown and key in flight.

The pool also keeps to the fleet's cooldowns and key slots (`actors.fleet_keys`, through its
`SharedState`, which for a gateway of one process is `Solo`): it reads the fleet's cooldowns
before serving its queue, shares the cooldowns it sets, and takes a fleet slot with each
capped key it leases.

Readers that only look (/stats, /metrics) read `view`, the `PoolView` published after each
batch of messages.
"""

from __future__ import annotations

import math
from collections import deque

import attrs
import trio

from actors.fleet_keys import FLEET_POLL, FleetKeys
from actors.keypool import Busy, Cooling, KeyPool, PoolView
from actors.messages import KeyLease, Lease, LeaseNow, NoKey, PoolMessage, Release
from actors.ratelimit import RateLimitTracker
from actors.ratelimit_book import Reservation, Skip, WaitUntil
from actors.supervision import ActorUnavailable, answer, ask, drop
from protocols.failures import UpstreamFailure
from protocols.ratelimit_headers import WindowState
from protocols.usage import Usage

INBOX_SIZE = 1024
TRACKER_PATIENCE = 1.0  # seconds the tracker may handle nothing before it counts as failed


@attrs.frozen
class _Wait:
    """No key now; ask again at `at` (None: when a key is released)."""

    at: float | None


_BUSY = _Wait(None)


@attrs.define
class CredentialPool:
    pool: KeyPool
    tracker: RateLimitTracker | None = None  # the provider's rate windows
    # cooldowns, key slots and probes as the gateway's instances agree on them (`Solo`: alone)
    fleet: FleetKeys = attrs.field(factory=FleetKeys.alone)
    view: PoolView = attrs.field(init=False)
    _send: trio.MemorySendChannel[PoolMessage] = attrs.field(init=False, repr=False)
    _inbox: trio.MemoryReceiveChannel[PoolMessage] = attrs.field(init=False, repr=False)
    _waiting: deque[Lease] = attrs.field(init=False, factory=deque)
    _wake: float = attrs.field(init=False, default=math.inf)

    def __attrs_post_init__(self) -> None:
        self._send, self._inbox = trio.open_memory_channel[PoolMessage](INBOX_SIZE)
        self.view = self.pool.view()

    # -- the requester's side: messages only ----------------------------------------------

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
        (then the request queues, first come first served, until there is room). Raises
        `ActorUnavailable` if the pool dropped the request."""
        reply = await ask(
            self._send,
            lambda reply: Lease(model, exclude, reply, tokens, deadline, wait_for_room),
        )
        assert isinstance(reply, KeyLease | NoKey), reply
        return reply

    async def lease_now(self, model: str) -> KeyLease | None:
        """A key for a probe, only if one is free this instant (never waits, never queues
        ahead of callers): not cooling, under its cap, with rate headroom."""
        reply = await ask(self._send, lambda reply: LeaseNow(model, reply))
        assert reply is None or isinstance(reply, KeyLease), reply
        return reply

    async def release(
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
        replace the estimate the token windows counted. Safe in a `finally` of a cancelled
        task: it never raises `Cancelled`."""
        tracker, reservation = self.tracker, lease.reservation
        if tracker is not None and reservation is not None:
            if usage is not None and usage.known:
                tracker.settle(reservation, usage.total)
            retry_after = failure.retry_after if failure is not None else None
            if windows or retry_after is not None:
                tracker.observe(
                    reservation.key,
                    model,
                    windows,
                    sent_at=reservation.at,
                    retry_after=retry_after,
                )
        message = Release(lease.index, model, failure, served)
        try:
            self._send.send_nowait(message)
        except trio.WouldBlock:
            with trio.CancelScope(shield=True):
                await self._send.send(message)
        await trio.lowlevel.cancel_shielded_checkpoint()

    # -- the actor ------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            task_status.started()
            while True:
                message: PoolMessage | None = None
                with trio.move_on_at(self._wake):  # only the waiting: never the handling
                    message = await self._inbox.receive()
                if message is None:
                    await self._serve_waiting()  # a cooldown or a window has ended
                while message is not None:  # the whole batch, then one publish
                    try:
                        await self._handle(message)
                    except BaseException:
                        drop(message)  # its requester must not wait for the restart
                        raise
                    try:
                        message = self._inbox.receive_nowait()
                    except trio.WouldBlock:
                        message = None
                self.view = self.pool.view()
        finally:
            # Stopped or crashed: no request this run holds may wait for an answer.
            for request in self._waiting:
                if request.reply is not None:
                    request.reply.close()
            self._waiting.clear()
            self._wake = math.inf

    async def _handle(self, message: PoolMessage) -> None:
        match message:
            case Lease():
                self._waiting.append(message)  # first come, first served: no overtaking
                await self._serve_waiting()
            case LeaseNow():
                with message.reply:
                    found = None
                    if not self._waiting:
                        request = Lease(message.model, frozenset(), None)
                        try:
                            tried = await self._try(request, trio.current_time())
                        except ActorUnavailable:  # its tracker failed: no key, as for a lease
                            tried = None
                        found = tried if isinstance(tried, KeyLease) else None
                    if not answer(message.reply, found) and found is not None:
                        await self._give_back(found.index)
            case Release():
                await self._on_release(message)
                if self._waiting:
                    await self._serve_waiting()

    async def _on_release(self, release: Release) -> None:
        await self._give_back(release.index)
        if release.failure is None:
            if release.served:
                self.pool.record_success(release.index, release.model)
        else:
            now = trio.current_time()
            self.pool.record_failure(release.index, release.model, release.failure, now)
            await self.fleet.share_cooldown(
                self.pool, release.index, release.model, release.failure, now
            )

    async def _give_back(self, index: int) -> None:
        """Key `index` is back: here, and its fleet slot (`FleetKeys.give_slot`)."""
        self.pool.release(index)
        await self.fleet.give_slot(self.pool, index)

    async def _serve_waiting(self) -> None:
        still_waiting: deque[Lease] = deque()
        now = trio.current_time()
        await self.fleet.impose_cooldowns(self.pool, now)
        wake = math.inf
        try:
            while self._waiting:
                request = self._waiting[0]
                if _abandoned(request):  # its caller gave up: a key must not count it as sent
                    self._waiting.popleft()
                    continue
                try:
                    reply = await self._try(request, now)
                except ActorUnavailable:
                    reply = None
                self._waiting.popleft()
                if reply is None:
                    if request.reply is not None:
                        request.reply.close()  # its walk fails this provider over
                elif isinstance(reply, _Wait):
                    still_waiting.append(request)
                    # a busy key's release wakes the queue by message; a cooldown's end not
                    at = reply.at or self.pool.next_free_at(request.model, now, request.exclude)
                    if at is not None:
                        wake = min(wake, at)
                else:
                    await self._answer(request, reply)
        finally:  # a crash in `_try` leaves the rest queued, in order, for `run` to close
            still_waiting.extend(self._waiting)
            self._waiting = still_waiting
            self._wake = wake

    async def _try(self, request: Lease, now: float) -> KeyLease | NoKey | _Wait:
        """Answer `request` now if it can be: a key with room, or why there is none. Keys
        without rate headroom are passed over (and later ones tried)."""
        exclude = request.exclude
        room_at: float | None = None  # the earliest a passed-over key has room
        skipped_until: list[float] = []
        passed_over = False  # a key was skipped for want of rate headroom, not for a cooldown
        fleet_busy = False  # a key was skipped because the fleet had no slot of it free
        while True:
            outcome = self.pool.acquire(request.model, now, exclude)
            if fleet_busy and isinstance(outcome, Busy | Cooling):
                return _Wait(trio.current_time() + FLEET_POLL)  # it frees elsewhere: look again
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
            if not await self.fleet.claim_probe(
                self.pool, outcome, request.model, now
            ):  # another instance sends this cooldown's probe
                self.pool.release(outcome, request.model)
                exclude = exclude | {outcome}
                continue
            if not await self.fleet.take_slot(self.pool, outcome):
                self.pool.release(outcome)
                exclude = exclude | {outcome}
                fleet_busy = True
                continue
            if self.tracker is None:
                return KeyLease(outcome, key)
            try:
                decision = await self._admit(key.alias, request)
            except BaseException:
                await self._give_back(outcome)  # no answer, or a crash: the key is not out
                raise
            if isinstance(decision, Reservation):
                return KeyLease(outcome, key, decision)
            await self._give_back(outcome)
            exclude = exclude | {outcome}
            passed_over = True
            if isinstance(decision, WaitUntil):
                room_at = decision.at if room_at is None else min(room_at, decision.at)
            elif decision.until is not None:
                skipped_until.append(decision.until)

    async def _admit(self, alias: str, request: Lease) -> Reservation | WaitUntil | Skip:
        assert self.tracker is not None
        return await self.tracker.admit(
            alias,
            request.model,
            request.tokens,
            deadline=request.deadline,
            patience=TRACKER_PATIENCE,
        )

    async def _answer(self, request: Lease, reply: KeyLease | NoKey) -> None:
        assert request.reply is not None, "only queued requests are answered by message"
        if not answer(request.reply, reply) and isinstance(reply, KeyLease):
            await self._give_back(reply.index)  # the requester gave up: the key goes back


def _abandoned(request: Lease) -> bool:
    reply = request.reply
    return reply is not None and reply.statistics().open_receive_channels == 0
