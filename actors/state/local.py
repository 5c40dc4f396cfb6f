"""`SharedState` in memory: what a single process uses, and `RedisState`'s fallback.

Each window of a scope is an exact log: a deque of `(at, requests, tokens)` in time order,
with running totals, so the common answer ("there is room") costs a prune of what has expired
and two comparisons. Only a refusal walks the log, oldest first, as far as the excess it must
see drop out. The log holds one entry per request in the window: fine for per-minute and
per-hour limits; a day window on a very busy key costs memory in proportion to its traffic.

The synchronous methods (`take_now`, `record`, ...) are the bookkeeping; the async methods of
the `SharedState` interface wrap them with a checkpoint, as every async function must.
`RedisState` calls the synchronous ones to mirror what Redis granted, so that when Redis goes
away the local state already knows this instance's own recent traffic, leases and cooldowns.
`claim_probe` and `heartbeat` take no `now`: they read `clock` (wall-clock by default).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType

import attrs
import trio

from actors.state.shared import NEVER, Cap, Cooled, Window, check_name


@attrs.define
class Log:
    """The entries of one window of one scope, oldest first, and their totals."""

    entries: deque[tuple[float, int, int]] = attrs.field(factory=deque)
    requests: int = 0
    tokens: int = 0
    ends: float | None = None  # a fixed window's period: the log counts only that one

    def prune(self, cutoff: float) -> None:
        """Drop every entry at or before `cutoff` (= now - seconds): it has left the window."""
        while self.entries and self.entries[0][0] <= cutoff:
            _, requests, tokens = self.entries.popleft()
            self.requests -= requests
            self.tokens -= tokens

    def add(self, at: float, requests: int, tokens: int) -> None:
        index = len(self.entries)
        while index and self.entries[index - 1][0] > at:  # a clock stepped back: keep order
            index -= 1
        self.entries.insert(index, (at, requests, tokens))
        self.requests += requests
        self.tokens += tokens

    def ready_at(self, excess: int, field: int) -> float:
        """When the oldest entries holding `excess` requests (field 1) or tokens (field 2)
        have arrived; they leave the window one span later."""
        for entry in self.entries:
            excess -= entry[1] if field == 1 else entry[2]
            if excess <= 0:
                return entry[0]
        raise AssertionError("log totals disagree with its entries")


def window_wait(log: Log, window: Window, tokens: int, now: float) -> float:
    """0.0 if one more request of `tokens` fits in `window` now, NEVER if it never will, else
    the seconds until it will. The log must be pruned to `now`."""
    wait = 0.0
    fixed = window.ends is not None
    for limit, have, amount, field in (
        (window.max_requests, log.requests, 1, 1),
        (window.max_tokens, log.tokens, tokens, 2),
    ):
        if limit is None:
            continue
        if amount > limit:
            return NEVER
        excess = have + amount - limit
        if excess > 0 and fixed:
            wait = max(wait, window.lives(now))  # all of it leaves at once, at its end
        elif excess > 0:
            wait = max(wait, log.ready_at(excess, field) + window.seconds - now)
    return wait


@attrs.define
class LocalState:
    """Rate windows, leases, cooldowns, probe claims and heartbeats of this process alone."""

    clock: Callable[[], float] = time.time
    logs: dict[tuple[str, str], Log] = attrs.field(factory=dict)  # (scope, window span) -> log
    spans: dict[str, tuple[Window, ...]] = attrs.field(factory=dict)  # scope -> its windows
    caps: dict[str, dict[str, Cap]] = attrs.field(factory=dict)  # scope -> name -> cap
    leases: dict[str, dict[str, float]] = attrs.field(factory=dict)  # key -> id -> expiry
    cooldowns: dict[tuple[str, str], Cooled] = attrs.field(factory=dict)
    probes: dict[tuple[str, str], float] = attrs.field(factory=dict)
    instances: dict[str, float] = attrs.field(factory=dict)  # instance -> alive until

    @property
    def up(self) -> bool:
        return True  # nothing to be down

    async def __aenter__(self) -> LocalState:
        await trio.lowlevel.checkpoint()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await trio.lowlevel.checkpoint()

    # -- the bookkeeping ------------------------------------------------------------------

    def _log(self, scope: str, window: Window, now: float) -> Log:
        log = self.logs.get((scope, window.span))
        if log is None or log.ends != window.ends:  # new, or a fixed window's next period
            log = self.logs[(scope, window.span)] = Log(ends=window.ends)
        log.prune(now - window.seconds)
        return log

    def take_now(
        self, scope: str, windows: tuple[Window, ...], tokens: int, now: float
    ) -> float | None:
        waits = [window_wait(self._log(scope, w, now), w, tokens, now) for w in windows]
        live = self._live_caps(scope, now)
        waits += [cap.until - now for cap in live if cap.remaining < cap.need(tokens)]
        if any(waits):
            return max(waits)
        self.record(scope, windows, tokens, now)
        return None

    def _live_caps(self, scope: str, now: float) -> list[Cap]:
        held = self.caps.get(scope)
        if not held:
            return []
        for name in [name for name, cap in held.items() if cap.until <= now]:
            del held[name]
        if not held:
            del self.caps[scope]
        return list(held.values())

    def record(self, scope: str, windows: tuple[Window, ...], tokens: int, now: float) -> None:
        """Count one request of `tokens` in every window, room or not (what Redis granted)."""
        self.spans[scope] = windows
        for window in windows:
            self._log(scope, window, now).add(now, 1, tokens)
        held = self.caps.get(scope, {})
        for name, cap in held.items():
            if cap.until > now:
                held[name] = attrs.evolve(cap, remaining=cap.remaining - cap.need(tokens))

    def observe_now(self, scope: str, caps: tuple[Cap, ...]) -> None:
        held = self.caps.setdefault(scope, {})
        for cap in caps:
            current = held.get(cap.name)
            if current is None or current.seen <= cap.seen:  # older news is not news
                held[cap.name] = cap

    def settle_now(self, scope: str, token_delta: int, now: float) -> None:
        if token_delta <= 0:
            return
        for window in self.spans.get(scope, ()):
            self._log(scope, window, now).add(now, 0, token_delta)

    def lease_now(
        self, key: str, cap: int, lease_id: str, ttl: float, now: float, *, force: bool = False
    ) -> bool:
        held = self.leases.setdefault(key, {})
        for expired in [lease for lease, until in held.items() if until <= now]:
            del held[expired]
        if force or lease_id in held or len(held) < cap:
            held[lease_id] = now + ttl
            return True
        return False

    def release_now(self, key: str, lease_id: str) -> None:
        held = self.leases.get(key)
        if held is not None:
            held.pop(lease_id, None)
            if not held:
                del self.leases[key]

    def cool_now(self, key: str, scope: str, until: float, strikes: int = 1) -> None:
        check_name(key, scope)
        current = self.cooldowns.get((key, scope))
        if current is not None and current.until > self.clock():  # an ended one starts over
            until, strikes = max(until, current.until), max(strikes, current.strikes)
        self.cooldowns[(key, scope)] = Cooled(until, strikes)

    def cooling_now(self, prefix: str, now: float) -> dict[tuple[str, str], Cooled]:
        for ended in [pair for pair, cooled in self.cooldowns.items() if cooled.until <= now]:
            del self.cooldowns[ended]
        return {pair: end for pair, end in self.cooldowns.items() if pair[0].startswith(prefix)}

    def claim_probe_now(self, key: str, scope: str, ttl: float, now: float) -> bool:
        check_name(key, scope)
        if self.probes.get((key, scope), -math.inf) > now:
            return False
        self.probes[(key, scope)] = now + ttl
        return True

    def heartbeat_now(self, instance: str, ttl: float, now: float) -> int:
        self.instances[instance] = now + ttl
        for gone in [name for name, until in self.instances.items() if until <= now]:
            del self.instances[gone]
        return len(self.instances)

    # -- SharedState ----------------------------------------------------------------------

    async def take(
        self, scope: str, windows: tuple[Window, ...], tokens: int, now: float
    ) -> float | None:
        await trio.lowlevel.checkpoint()
        return self.take_now(scope, windows, tokens, now)

    async def settle(self, scope: str, token_delta: int, now: float) -> None:
        await trio.lowlevel.checkpoint()
        self.settle_now(scope, token_delta, now)

    async def observe(self, scope: str, caps: tuple[Cap, ...]) -> None:
        await trio.lowlevel.checkpoint()
        self.observe_now(scope, caps)

    async def lease(self, key: str, cap: int, lease_id: str, ttl: float, now: float) -> bool:
        await trio.lowlevel.checkpoint()
        return self.lease_now(key, cap, lease_id, ttl, now)

    async def release(self, key: str, lease_id: str) -> None:
        await trio.lowlevel.checkpoint()
        self.release_now(key, lease_id)

    async def cool(self, key: str, scope: str, until: float, strikes: int = 1) -> None:
        await trio.lowlevel.checkpoint()
        self.cool_now(key, scope, until, strikes)

    async def cooling(self, prefix: str, now: float) -> dict[tuple[str, str], Cooled]:
        await trio.lowlevel.checkpoint()
        return self.cooling_now(prefix, now)

    async def claim_probe(self, key: str, scope: str, ttl: float) -> bool:
        await trio.lowlevel.checkpoint()
        return self.claim_probe_now(key, scope, ttl, self.clock())

    async def heartbeat(self, instance: str, ttl: float) -> int:
        await trio.lowlevel.checkpoint()
        return self.heartbeat_now(instance, ttl, self.clock())
