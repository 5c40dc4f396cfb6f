"""The rate-limit tracker actor: one provider's `RateLimitBook`, behind an inbox.

A thin loop: `Admit` asks whether a key may send one more request now and, if it may, counts
it in the same step (a decision and its record can never be split by another request), so
two callers can never both take the last slot of a window. `Settle` replaces an attempt's
estimated tokens with what the upstream reported; `Observe` folds in what a reply's headers
and Retry-After said. The credential pool asks `Admit` for each key it considers; the walk
and the health checker tell `Settle` and `Observe` when an attempt ends.

Overload: `Admit` is asked with an awaited send (the asker waits for room in the inbox, under
its own deadline). `Settle` and `Observe` are told with `send_nowait`; when the inbox is full
they are dropped and counted in `dropped`. That is safe in the cautious direction for settles
(the estimate stands, and estimates count the whole request) and costs at worst a 429 for an
observation (the upstream says so again in its next reply).

With a shared `state:`, an `Admit` this book allows is also asked of the fleet's windows
(`RateLimitBook.fleet_windows`, taken atomically in the shared state): only then is it
counted, here and there. A request the fleet has no room for waits or is passed over like
one this book refuses. An upstream's headers saying a window of a key is exhausted until
its reset become a shared cooldown of that key and model, so the whole fleet waits for it.

Readers that only look (/stats) read `view`, a frozen `BookView` the tracker publishes every
`PUBLISH_EVERY` seconds (headroom walks every tally: not a cost to pay on every request).
"""

from __future__ import annotations

import math
import time as wall_time
from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import trio

from actors.messages import Admit, Observe, Settle, TrackerMessage
from actors.ratelimit_book import Go, RateLimitBook, Reservation, Skip, WaitUntil
from actors.state import Cap, SharedState, Solo
from actors.supervision import answer, ask, ask_patiently, drop, tell
from protocols.ratelimit_headers import WindowState

INBOX_SIZE = 4096
PUBLISH_EVERY = 0.5
# the longest reset an upstream's headers may set for the whole fleet (a day's window and some):
# a longer one is not a rate window but a broken or hostile header, kept to this instance's book
FLEET_LONGEST_RESET = 2 * 86_400.0


@attrs.frozen
class BookView:
    """What the tracker's book showed at `at` (monotonic): each key's headroom for /stats."""

    at: float = 0.0
    rows: Mapping[str, Mapping[str, Mapping[str, Any]]] = attrs.field(factory=dict)

    def headroom(self, key: str, now: float) -> dict[str, dict[str, Any]]:
        """As `RateLimitBook.headroom(key, now)`, from the published picture."""
        found: dict[str, dict[str, Any]] = {}
        for label, row in self.rows.get(key, {}).items():
            row = dict(row)
            if "resets_in_s" in row:
                row["resets_in_s"] = round(max(0.0, row["resets_in_s"] - (now - self.at)), 3)
            found[label] = row
        return found


@attrs.define
class RateLimitTracker:
    book: RateLimitBook
    keys: tuple[str, ...] = ()  # the aliases `view` covers
    # what the gateway's instances agree on (`actors.state`): the fleet's windows under
    # `provider/`-prefixed scopes, or `Solo`'s "the book's answer is the gateway's"
    shared: SharedState = attrs.field(factory=Solo)
    provider: str = ""
    view: BookView = attrs.field(factory=BookView)
    dropped: int = attrs.field(init=False, default=0)  # notifications lost to a full inbox
    handled: int = attrs.field(init=False, default=0)  # messages handled: its sign of life
    _send: trio.MemorySendChannel[TrackerMessage] = attrs.field(init=False, repr=False)
    _inbox: trio.MemoryReceiveChannel[TrackerMessage] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self._send, self._inbox = trio.open_memory_channel[TrackerMessage](INBOX_SIZE)

    @classmethod
    def for_keys(cls, book: RateLimitBook, keys: Iterable[str]) -> RateLimitTracker:
        return cls(book, tuple(keys))

    # -- the requester's side: messages only ----------------------------------------------

    async def admit(
        self,
        key: str,
        model: str,
        tokens: int,
        *,
        deadline: float = math.inf,
        patience: float | None = None,
    ) -> Reservation | WaitUntil | Skip:
        """Count one request of `key` to `model` now if every window has room (its
        `Reservation`), else when there will be (`WaitUntil` before `deadline`, or `Skip`).
        Raises `ActorUnavailable` if the tracker dropped the request, or (with `patience`)
        handled nothing for that long while it waited."""
        message = lambda reply: Admit(key, model, tokens, deadline, reply)  # noqa: E731
        if patience is None:
            answer_ = await ask(self._send, message)
        else:
            answer_ = await ask_patiently(self._send, message, patience, lambda: self.handled)
        assert isinstance(answer_, Reservation | WaitUntil | Skip), answer_
        return answer_

    def settle(self, reservation: Reservation, tokens: int) -> None:
        self._tell(Settle(reservation, tokens))

    def observe(
        self,
        key: str,
        model: str,
        windows: tuple[WindowState, ...],
        *,
        sent_at: float | None = None,
        retry_after: float | None = None,
    ) -> None:
        self._tell(Observe(key, model, windows, sent_at, retry_after))

    def _tell(self, message: TrackerMessage) -> None:
        if not tell(self._send, message):
            self.dropped += 1

    # -- the actor ------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self._publish(trio.current_time())
        task_status.started()
        while True:
            message: TrackerMessage | None = None
            with trio.move_on_at(self.view.at + PUBLISH_EVERY):
                message = await self._inbox.receive()
            now = trio.current_time()
            while message is not None:  # the whole batch, then at most one publish
                self.handled += 1
                try:
                    await self.handle(message, now)
                except BaseException:
                    drop(message)  # an Admit's asker must not wait for the restart
                    raise
                try:
                    message = self._inbox.receive_nowait()
                except trio.WouldBlock:
                    message = None
            if now >= self.view.at + PUBLISH_EVERY:
                self._publish(now)

    async def handle(self, message: TrackerMessage, now: float) -> None:
        match message:
            case Admit():
                with message.reply:
                    decision = self.book.decide(
                        message.key, message.model, message.tokens, now, deadline=message.deadline
                    )
                    if isinstance(decision, Go) and not _abandoned(
                        message.reply  # nobody to send it to: count it nowhere
                    ):
                        decision = await self._fleet_decides(message, now)
                    if not isinstance(decision, Go):
                        answer(message.reply, decision)
                    elif not _abandoned(message.reply):  # a requester gone is not counted
                        reservation = self.book.record(
                            message.key, message.model, message.tokens, now
                        )
                        answer(message.reply, reservation)
            case Settle():
                self.book.settle(message.reservation, message.tokens, now)
            case Observe():
                self.book.observe(
                    message.key,
                    message.model,
                    message.windows,
                    now,
                    sent_at=message.sent_at,
                    retry_after=message.retry_after,
                )
                await self._share_exhausted(message)
                await self._share_caps(message, now)

    async def _share_exhausted(self, message: Observe) -> None:
        """The upstream said this key has nothing left in a window until its reset: the
        fleet stays off the key for the model until then (as a shared cooldown, which every
        instance's credential pool imposes), not only the instance that read the headers."""
        resets = [
            w.reset
            for w in message.windows
            if w.remaining == 0 and w.reset and w.reset <= FLEET_LONGEST_RESET
        ]
        if resets:
            key = f"{self.provider}/{message.key}"
            await self.shared.cool(key, message.model, wall_time.time() + max(resets))

    async def _share_caps(self, message: Observe, now: float) -> None:
        """What the headers said is left in each window becomes the fleet's cap on the key
        (`actors.state.shared`), which every instance's takes then spend: so the fleet paces
        to the upstream's count, not each instance to the replies it alone read."""
        wall = wall_time.time()
        seen = wall - (now - message.sent_at) if message.sent_at is not None else wall
        caps = tuple(
            Cap(w.window, w.kind, w.remaining, wall + w.reset, seen)
            for w in message.windows
            if w.remaining is not None
            and w.reset is not None
            and 0 < w.reset <= FLEET_LONGEST_RESET
        )
        if caps:
            scope = self.book.fleet_scope(message.key, message.model)
            await self.shared.observe(f"{self.provider}/{scope}", caps)

    async def _fleet_decides(self, message: Admit, now: float) -> Go | WaitUntil | Skip:
        """Room here: is there room in the fleet's windows and under the upstream's caps? If
        so it is taken (counted for every instance in one atomic step), else when there will
        be."""
        wall = wall_time.time()
        fleet = self.book.fleet_windows(message.key, message.model, wall)
        scope, windows = fleet or (self.book.fleet_scope(message.key, message.model), ())
        wait = await self.shared.take(f"{self.provider}/{scope}", windows, message.tokens, wall)
        if wait is None:
            return Go()
        if math.isinf(wait):
            return Skip(None, "fleet window")
        at = now + wait
        return WaitUntil(at, "fleet window") if at < message.deadline else Skip(at, "fleet window")

    def _publish(self, now: float) -> None:
        rows = {key: self.book.headroom(key, now) for key in self.keys}
        self.view = BookView(now, {key: row for key, row in rows.items() if row})


def _abandoned(reply: trio.MemorySendChannel[Any]) -> bool:
    return reply.statistics().open_receive_channels == 0
