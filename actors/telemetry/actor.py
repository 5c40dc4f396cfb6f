"""The telemetry actor: every finished call's `CallRecord` is summed up at once and stored
soon after, and the request path never waits on a disk.

`record()` runs in the caller's task and costs a few microseconds: it adds the record to the
`StatsBook` (/stats) and the `Metrics` (/metrics), hands it to the listeners (the per-call log
line, the dashboard), and puts it in a bounded buffer. `run()` takes what is buffered in
batches, at most one a second (`flush_every`), and writes each to `TelemetryTables` in a
worker thread. When the buffer is full
(the disk is slower than the calls) a record is dropped from storage only, and counted
(`records_dropped`): /stats and /metrics still saw it.

Records older than `retention` are pruned once an hour. At start-up the day's sums are read
back from the stored records, so tokens and cost "today" survive a restart; on the way out
whatever is still buffered is written, shielded and bounded (a write already in its worker
thread cannot be interrupted: a stalled disk can hold a stop that long).
"""

from __future__ import annotations

import math
import sqlite3
import time as wall_time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from datetime import time as time_of_day
from pathlib import Path
from typing import Any

import attrs
import trio
from loguru import logger

from actors.messages import Provenance
from actors.telemetry.metrics import Live, Metrics
from actors.telemetry.record import CallRecord
from actors.telemetry.stats_book import DAY, StatsBook
from actors.telemetry.tables import TelemetryTables
from protocols.usage import Usage

TELEMETRY_FILE = "telemetry.sqlite3"
BATCH = 500
FLUSH_EVERY = 1.0
PRUNE_EVERY = 3600.0
SHUTDOWN_GRACE = 5.0


def day_start(wall: float, reset: time_of_day) -> float:
    """The last moment at or before `wall` whose UTC time of day is `reset`."""
    day = datetime.fromtimestamp(wall, UTC).date()
    moment = datetime.combine(day, reset, tzinfo=UTC).timestamp()
    return moment if moment <= wall else moment - DAY


Listener = Callable[[CallRecord], None]
Pricer = Callable[[str | None, str | None, Usage], float | None]


@attrs.define
class Telemetry:
    path: Path | None  # None: records kept in memory only, for this process's life
    retention: float = 30 * DAY
    buffer: int = 10_000
    daily_reset: time_of_day = time_of_day(0, 0)
    wall_clock: Callable[[], float] = wall_time.time
    listeners: list[Listener] = attrs.field(factory=list)
    prices: Pricer | None = None  # (provider, model, usage) -> USD or None
    flush_every: float = FLUSH_EVERY  # seconds a batch gathers before it is written
    prune_every: float = PRUNE_EVERY
    book: StatsBook = attrs.field(init=False)
    metrics: Metrics = attrs.field(init=False)
    calls_in_flight: int = attrs.field(init=False, default=0)
    records_dropped: int = attrs.field(init=False, default=0)
    records_written: int = attrs.field(init=False, default=0)
    _buffered: int = attrs.field(init=False, default=0)  # records accepted into the buffer
    _restored: bool = attrs.field(init=False, default=False)  # today's sums read back once
    _settled: int = attrs.field(init=False, default=0)  # of those, written or failed to write
    _send: trio.MemorySendChannel[CallRecord] = attrs.field(init=False, repr=False)
    _receive: trio.MemoryReceiveChannel[CallRecord] = attrs.field(init=False, repr=False)
    _tables: TelemetryTables | None = attrs.field(init=False, default=None, repr=False)
    _flush_now: trio.Event = attrs.field(init=False, factory=trio.Event, repr=False)
    _limiter: trio.CapacityLimiter = attrs.field(
        init=False, repr=False, factory=lambda: trio.CapacityLimiter(1)
    )

    def __attrs_post_init__(self) -> None:
        self.book = StatsBook(day_start(self.wall_clock(), self.daily_reset))
        self.metrics = Metrics()
        self._send, self._receive = trio.open_memory_channel[CallRecord](self.buffer)

    def watch(self, live: Live, virtual_models: Iterable[str] = ()) -> None:
        """Expose `live()` (what is in flight, cooling, healthy now) on /metrics, and label
        calls by model only for `virtual_models` and names an upstream served."""
        self.metrics = Metrics(live, virtual_models)

    # -- the request path -----------------------------------------------------------------

    def call_started(self) -> None:
        self.calls_in_flight += 1

    def cost_of(self, provenance: Provenance | None, usage: Usage | None) -> float | None:
        """What a call cost in USD by the price table; None without a price or usage."""
        if self.prices is None or provenance is None or usage is None:
            return None
        return self.prices(provenance.provider, provenance.model, usage)

    def record(self, record: CallRecord) -> None:
        """A call has ended: count it everywhere now, store it soon."""
        self.calls_in_flight -= 1
        self.book.add(record)
        self.metrics.observe(record)
        for listener in self.listeners:
            try:
                listener(record)
            except Exception:  # a listener's bug must not fail the call it reports on
                logger.exception("telemetry listener {} failed", listener)
        try:
            self._send.send_nowait(record)
            self._buffered += 1
        except trio.WouldBlock:
            self.records_dropped += 1

    # -- the actor ------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        tables = self._tables = await self._offload(TelemetryTables.connect, self.path)
        gathering: list[CallRecord] = []  # records taken from the buffer, not yet written
        try:
            if not self._restored:  # a restart after a crash: the sums are already here
                today = await self._offload(tables.today, self.book.day_start)
                self.book.restore_today(today)
                self._restored = True
            await self._prune(tables)
            task_status.started()
            next_prune = trio.current_time() + self.prune_every
            while True:
                with trio.move_on_at(next_prune):  # only the waiting: never a write
                    gathering.append(await self._receive.receive())
                    # let a batch gather: one write a second, not one per call (a worker
                    # thread and a transaction each cost more than the call's own work)
                    with trio.move_on_after(self.flush_every):
                        await self._flush_now.wait()
                    self._flush_now = trio.Event()
                await self._write_all(tables, gathering)
                if trio.current_time() >= next_prune:
                    await self._prune(tables)
                    next_prune = trio.current_time() + self.prune_every
        finally:
            with trio.CancelScope(shield=True):
                with trio.move_on_after(SHUTDOWN_GRACE):
                    await self._write_all(tables, gathering)
                await self._offload(tables.close)

    async def flush(self) -> None:
        """Return once every record buffered so far is written (or has failed to be)."""
        if self._tables is None:
            return
        while self._settled < self._buffered:
            batch = self._drain([])
            if batch:
                await self._write(self._tables, batch)
            else:  # the actor holds a batch: hurry it
                self._flush_now.set()
                await trio.sleep(0.005)

    async def _write_all(self, tables: TelemetryTables, gathering: list[CallRecord]) -> None:
        """Write `gathering` and whatever else is buffered, in batches. A record leaves
        `gathering` only once its batch is written, so a cancelled write loses nothing: the
        way out writes what is still there."""
        while True:
            self._drain(gathering)
            if not gathering:
                return
            batch = gathering[:BATCH]
            await self._write(tables, batch)
            del gathering[: len(batch)]

    def _drain(self, batch: list[CallRecord]) -> list[CallRecord]:
        while len(batch) < BATCH:
            try:
                batch.append(self._receive.receive_nowait())
            except trio.WouldBlock:
                break
        return batch

    async def _write(self, tables: TelemetryTables, batch: list[CallRecord]) -> None:
        try:
            await self._offload(tables.write, batch)
            self.records_written += len(batch)
        except sqlite3.Error as exc:
            self.records_dropped += len(batch)
            logger.warning("telemetry: writing {} call records failed: {!r}", len(batch), exc)
        self._settled += len(batch)  # not when cancelled: the batch is still to be written

    async def _prune(self, tables: TelemetryTables) -> None:
        if math.isinf(self.retention):
            return
        try:
            gone = await self._offload(tables.prune, self.wall_clock() - self.retention)
        except sqlite3.Error as exc:
            logger.warning("telemetry: pruning old call records failed: {!r}", exc)
            return
        if gone:
            logger.info("telemetry: pruned {} call records older than the retention", gone)

    async def _offload(self, function: Callable[..., Any], *args: object) -> Any:
        return await trio.to_thread.run_sync(function, *args, limiter=self._limiter)
