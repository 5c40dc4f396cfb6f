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
from protocols.failures import UpstreamFailure


@attrs.define
class CredentialPool:
    pool: KeyPool
    _send: trio.MemorySendChannel[PoolMessage] = attrs.field(init=False)
    _inbox: trio.MemoryReceiveChannel[PoolMessage] = attrs.field(init=False)
    _waiting: deque[Lease] = attrs.field(init=False, factory=deque)

    def __attrs_post_init__(self) -> None:
        self._send, self._inbox = trio.open_memory_channel[PoolMessage](math.inf)

    # -- the requester's side: messages only ----------------------------------------------

    async def lease(self, model: str, exclude: frozenset[int] = frozenset()) -> KeyLease | NoKey:
        if not self._waiting:  # nobody queued: answer at once, as the actor itself would
            outcome = self.pool.acquire(model, trio.current_time(), exclude)
            if not isinstance(outcome, Busy):
                return self._reply_for(outcome)
        reply_send, reply_receive = trio.open_memory_channel[KeyLease | NoKey](1)
        with reply_receive:
            self._send.send_nowait(Lease(model, exclude, reply_send))
            return await reply_receive.receive()

    def release(
        self,
        lease: KeyLease,
        model: str,
        failure: UpstreamFailure | None = None,
        *,
        served: bool = True,
    ) -> None:
        """Give a key back: `failure` says what went wrong; `served=False` says nothing is known
        (the attempt was abandoned), so the key's record is left as it was."""
        self._on_release(Release(lease.index, model, failure, served))

    # -- the actor ------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            with trio.move_on_at(self._next_wake()):
                message = await self._inbox.receive()
                if isinstance(message, Lease):
                    self._on_lease(message)
                else:
                    self._on_release(message)
                continue
            self._serve_waiting()

    def _on_lease(self, request: Lease) -> None:
        if self._waiting:  # first come, first served: no overtaking the queue
            self._waiting.append(request)
            self._serve_waiting()
            return
        outcome = self.pool.acquire(request.model, trio.current_time(), request.exclude)
        if isinstance(outcome, Busy):
            self._waiting.append(request)
        else:
            self._answer(request, outcome)

    def _on_release(self, release: Release) -> None:
        self.pool.release(release.index)
        if release.failure is None:
            if release.served:
                self.pool.record_success(release.index, release.model)
        else:
            self.pool.record_failure(
                release.index, release.model, release.failure, trio.current_time()
            )
        self._serve_waiting()

    def _serve_waiting(self) -> None:
        still_waiting: deque[Lease] = deque()
        now = trio.current_time()
        for request in self._waiting:
            outcome = self.pool.acquire(request.model, now, request.exclude)
            if isinstance(outcome, Busy):
                still_waiting.append(request)
            else:
                self._answer(request, outcome)
        self._waiting = still_waiting

    def _reply_for(self, outcome: int | Cooling) -> KeyLease | NoKey:
        if isinstance(outcome, Cooling):
            return NoKey(outcome.until)
        return KeyLease(outcome, self.pool.keys[outcome])

    def _answer(self, request: Lease, outcome: int | Cooling) -> None:
        reply = self._reply_for(outcome)
        try:
            request.reply.send_nowait(reply)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            if isinstance(reply, KeyLease):
                self.pool.release(reply.index)

    def _next_wake(self) -> float:
        now = trio.current_time()
        ends = [
            until
            for request in self._waiting
            if (until := self.pool.next_free_at(request.model, now, request.exclude)) is not None
        ]
        return min(ends) if ends else math.inf
