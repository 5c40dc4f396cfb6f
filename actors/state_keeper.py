"""The state keeper: cooldowns, lockouts and rate windows survive a restart.

An actor over `StateTables` (`state.sqlite3` in the data directory; in memory without one).
`run()` restores every provider's `KeyPool` and `RateLimitBook` before it reports started, so
a system that starts it first serves nothing from a blank slate. Then, every `save_every`
seconds, it saves the providers whose pool or book has changed since the last save (their
`version` counters say so), and once more on the way out, shielded and bounded by
`SHUTDOWN_GRACE`. A save that fails is logged and tried again next time: losing a few seconds
of cooldowns costs a 429 or two, never a wrong answer.

Snapshots are taken on the Trio thread (they are plain, quick reads of the pool and the book,
which nothing else may touch from another thread); only the JSON and the disk go to a worker
thread. Their times are offsets from the monotonic clock, so a row also records the wall clock
(`saved_at`), and a restore ages everything by the wall-clock time since: a cooldown saved with
120 s to go, restored 30 s later, has 90 s to go.

Daily resets: a provider with `daily_reset_utc` has its day windows (rpd, tpd) cleared when
that UTC time of day comes round, and at start-up if one came round while baton was down.
The wall clock is read afresh on every wake, so a wall clock that jumps moves the resets with
it. `--workers N` processes sharing one data directory each restore the same rows at start-up
and then overwrite each other's: the last to save wins.
"""

from __future__ import annotations

import math
import sqlite3
import time as wall_time
from collections.abc import Callable, Mapping
from datetime import time
from pathlib import Path
from typing import Any

import attrs
import trio
from loguru import logger

from actors.keypool import KeyPool
from actors.ratelimit_book import RateLimitBook, next_reset
from actors.store.state import ProviderState, StateTables
from config.model import Config

STATE_FILE = "state.sqlite3"
SAVE_EVERY = 5.0
SHUTDOWN_GRACE = 5.0
# What a bad saved row can raise on restore: it is dropped, the rest restored.
_BAD_ROW = (AttributeError, KeyError, TypeError, ValueError)


@attrs.define
class Kept:
    """One provider's state: its key pool, its rate-limit book, when its day resets."""

    pool: KeyPool
    book: RateLimitBook
    daily_reset: time | None = None


@attrs.define
class StateKeeper:
    path: Path | None  # None: in memory, gone when run() ends
    kept: Mapping[str, Kept]
    save_every: float = SAVE_EVERY
    wall_clock: Callable[[], float] = wall_time.time
    _saved: dict[str, tuple[int, int]] = attrs.field(init=False, factory=dict)
    _restored: bool = attrs.field(init=False, default=False)  # a restarted keeper restores not
    _resets: dict[str, float] = attrs.field(init=False, factory=dict)  # next, wall clock
    _limiter: trio.CapacityLimiter = attrs.field(
        init=False, repr=False, factory=lambda: trio.CapacityLimiter(1)
    )

    @classmethod
    def for_config(
        cls,
        path: Path | None,
        config: Config,
        pools: Mapping[str, KeyPool],
        books: Mapping[str, RateLimitBook],
        **options: Any,
    ) -> StateKeeper:
        """A keeper of every configured provider's pool and book. Nothing is opened until
        `run()`."""
        kept = {
            name: Kept(pools[name], books[name], provider.daily_reset_utc)
            for name, provider in config.providers.items()
        }
        return cls(path, kept, **options)

    # -- the actor ------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        tables = await self._offload(StateTables.connect, self.path)
        restored = self._restored  # until then, saving would overwrite what is there with nothing
        try:
            if not restored:  # a restart after a crash keeps the live state, newer than the disk
                saved = await self._offload(tables.load)
                self.restore(saved, trio.current_time(), self.wall_clock())
                restored = self._restored = True
            task_status.started()
            next_save = trio.current_time() + self.save_every
            while True:
                wake = min(next_save, self._reset_due(trio.current_time(), self.wall_clock()))
                await trio.sleep_until(wake)
                if trio.current_time() >= next_save:
                    await self._save(tables)
                    next_save = trio.current_time() + self.save_every
        finally:
            with trio.CancelScope(shield=True):
                with trio.move_on_after(SHUTDOWN_GRACE):
                    if restored:
                        await self._save(tables)
                await self._offload(tables.close)  # checkpoints the WAL: disk work

    async def _save(self, tables: StateTables) -> None:
        states = self.changed(trio.current_time(), self.wall_clock())
        if not states:
            return
        try:
            await self._offload(tables.save, states)
        except (sqlite3.Error, ValueError) as exc:
            logger.warning("state store: saving cooldowns and rate windows failed: {!r}", exc)
            for name in states:  # still unsaved: try again next time
                self._saved.pop(name, None)

    async def _offload(self, function: Callable[..., Any], *args: object) -> Any:
        return await trio.to_thread.run_sync(function, *args, limiter=self._limiter)

    # -- the bookkeeping (synchronous, no I/O) --------------------------------------------

    def restore(self, saved: Mapping[str, ProviderState | None], now: float, wall: float) -> None:
        """Take back what was saved, aged by the wall-clock time since; then schedule the
        daily resets, applying one that came round while baton was down."""
        for name, kept in self.kept.items():
            if name not in saved:
                continue
            state = saved[name]
            if state is None:
                logger.warning("state store: the saved state of {} is unreadable; dropped", name)
                continue
            elapsed = max(0.0, wall - state.saved_at)  # a wall clock set back: no time passed
            try:
                kept.pool.restore(state.pool, now, elapsed)
            except _BAD_ROW as exc:
                logger.warning("state store: cooldowns of {} not restored: {!r}", name, exc)
                kept.pool.restore({"version": 1, "cooldowns": [], "recent": []}, now)
            try:
                kept.book.restore(state.book, now, elapsed=elapsed)
            except _BAD_ROW as exc:
                logger.warning("state store: rate windows of {} not restored: {!r}", name, exc)
                kept.book.restore({"version": 1, "tallies": []}, now)
            if kept.daily_reset is not None:
                if next_reset(state.saved_at, kept.daily_reset) <= wall:
                    kept.book.reset_day(now)
        self._saved = {name: _versions(kept) for name, kept in self.kept.items()}
        self._resets = {
            name: next_reset(wall, kept.daily_reset)
            for name, kept in self.kept.items()
            if kept.daily_reset is not None
        }

    def changed(self, now: float, wall: float) -> dict[str, ProviderState]:
        """Snapshots of the providers changed since the last call, taken at `now` (`wall`)."""
        states = {}
        for name, kept in self.kept.items():
            if self._saved.get(name) == _versions(kept):
                continue
            states[name] = ProviderState(kept.pool.snapshot(now), kept.book.snapshot(now), wall)
            self._saved[name] = _versions(kept)  # after the snapshot, which may prune
        return states

    def _reset_due(self, now: float, wall: float) -> float:
        """Apply the daily resets whose time has come; when (monotonic) the next one is."""
        for name, at in list(self._resets.items()):
            if at <= wall:
                kept = self.kept[name]
                assert kept.daily_reset is not None
                kept.book.reset_day(now)
                self._resets[name] = next_reset(wall, kept.daily_reset)
                logger.info("daily reset: the day windows of {} start afresh", name)
        soonest = min(self._resets.values(), default=math.inf)
        return now + (soonest - wall)


def _versions(kept: Kept) -> tuple[int, int]:
    return (kept.pool.version, kept.book.version)
