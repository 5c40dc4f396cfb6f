"""The Responses store actor: stored responses and their items, on SQLite, across restarts.

A thin loop around `ResponseTables`. `run()` owns the connection: it opens it (so a bad path
fails `nursery.start`), and closes it when cancelled, after serving what was already queued
(within `SHUTDOWN_GRACE`). Every database call runs in a worker
thread through a `CapacityLimiter(1)`, one at a time, so the event loop never waits on the
disk. Messages are served strictly in order from one inbox, so a `put_nowait` is visible to
every request sent after it: the next turn's `previous_response_id` always finds its response.

The inbox is bounded. `put_nowait` (what the edge calls when a response ends, from code that
cannot wait) drops the response with a warning when the inbox is full: a store that far
behind the disk should cost a later `previous_response_id` a clean 400, not unbounded memory.
Every other request waits for room, then for its answer.

Pruning (by age, then by size) runs at start-up and then every `prune_every` seconds, on a
deadline inside the loop rather than in a task or thread of its own.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import trio
from loguru import logger

from actors.store.requests import (
    INBOX_SIZE,
    Delete,
    FindItem,
    Get,
    ListInputItems,
    Put,
    StoreMessage,
    StoreRequests,
)
from actors.store.tables import (
    ResponseTables,
    StoreError,
)

__all__ = [  # besides the store: the vocabulary it takes, as it was imported from here
    "INBOX_SIZE",
    "Delete",
    "FindItem",
    "Get",
    "ListInputItems",
    "Put",
    "ResponseStore",
    "StoreMessage",
]
from actors.supervision import drop

DAY = 24 * 3600.0
MIB = 1024 * 1024
SHUTDOWN_GRACE = 5.0  # seconds to finish the queue when cancelled
# What one request may get wrong without stopping the store: the disk, or unstorable data.
_REQUEST_FAULTS = (sqlite3.Error, StoreError, TypeError, ValueError)


@attrs.define
class ResponseStore(StoreRequests):
    path: Path | None  # None: in memory, gone when run() ends
    max_age: float = 30 * DAY
    max_bytes: int = 256 * MIB
    prune_every: float = 3600.0
    wall_clock: Callable[[], float] = time.time
    _tables: ResponseTables | None = attrs.field(init=False, default=None, repr=False)
    _limiter: trio.CapacityLimiter = attrs.field(
        init=False, repr=False, factory=lambda: trio.CapacityLimiter(1)
    )

    @classmethod
    def open(
        cls,
        path: Path | None,
        *,
        max_age: float = 30 * DAY,
        max_bytes: int = 256 * MIB,
        prune_every: float = 3600.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> ResponseStore:
        """A store kept at `path` (None: in memory). Nothing is opened until `run()`."""
        return cls(path, max_age, max_bytes, prune_every, wall_clock)

    def _unanswered(self, request: StoreMessage, exc: Exception) -> object:
        raise StoreError("the response store is not running") from exc

    # -- the actor ------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        tables = self._tables  # a restart after a crash keeps the tables (and an in-memory
        if tables is None:  # store its responses)
            try:  # not abandoned on cancel: if this returns, the connection is ours to close
                tables = await self._offload(ResponseTables.connect, self.path)
            except BaseException:
                self._fail_queued()
                raise
            self._tables = tables
        crashed = False
        try:
            task_status.started()
            while True:
                await self._prune()
                next_prune = trio.current_time() + self.prune_every
                while (message := await self._next_message(next_prune)) is not None:
                    # A message taken is a message served: a cancel here would lose it. The
                    # wait is one database call, which a cancel could not cut short anyway.
                    with trio.CancelScope(shield=True):
                        try:
                            await self._serve(message)
                        except BaseException:
                            drop(message)  # its requester must not wait for the restart
                            raise
        except Exception:
            crashed = True  # restarted by its supervisor: what is queued waits for the next run
            raise
        finally:
            if not crashed:
                with trio.CancelScope(shield=True):
                    with trio.move_on_after(SHUTDOWN_GRACE):
                        await self._serve_queued()
                    self._fail_queued()
                    await self._offload(tables.close)  # checkpoints the WAL: disk work
                self._tables = None

    async def _next_message(self, deadline: float) -> StoreMessage | None:
        """The next message, or None when it is time to prune. A cancelled receive takes
        nothing from the inbox, so no message is lost to the deadline."""
        with trio.move_on_at(deadline):
            return await self._inbox.receive()
        return None

    async def _serve(self, message: StoreMessage) -> None:
        if message.reply is None:
            try:
                await self._offload(self._apply, message, self.wall_clock())
            except _REQUEST_FAULTS as exc:
                what = message.response.get("id") if isinstance(message, Put) else message
                logger.warning("response store: storing {} failed: {!r}", what, exc)
            return
        with message.reply:  # closed even if cancelled: the requester sees EndOfChannel
            try:
                answer = await self._offload(self._apply, message, self.wall_clock())
            except _REQUEST_FAULTS as exc:
                answer = StoreError(f"response store: {exc}")
                answer.__cause__ = exc
            try:
                message.reply.send_nowait(answer)
            except trio.BrokenResourceError:
                pass  # the requester gave up

    def _apply(self, message: StoreMessage, now: float) -> object:
        """Runs in the worker thread."""
        tables = self._tables
        assert tables is not None
        match message:
            case Put():
                tables.put(message.response, message.input_items, now=now)
                return None
            case Get():
                return tables.get(message.response_id)
            case Delete():
                return tables.delete(message.response_id)
            case FindItem():
                return tables.find_item(message.item_id)
            case ListInputItems():
                return tables.input_items(
                    message.response_id,
                    limit=message.limit,
                    order=message.order,
                    after=message.after,
                )

    async def _prune(self) -> None:
        tables = self._tables
        assert tables is not None
        now = self.wall_clock()
        try:
            pruned = await self._offload(
                lambda: tables.prune(now=now, max_age=self.max_age, max_bytes=self.max_bytes)
            )
        except sqlite3.Error as exc:
            logger.warning("response store: pruning failed: {!r}", exc)
        else:
            if pruned:
                logger.info("response store: pruned {} stored responses", pruned)

    async def _offload(self, function: Callable[..., Any], *args: object) -> Any:
        return await trio.to_thread.run_sync(function, *args, limiter=self._limiter)
