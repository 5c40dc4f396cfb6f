"""Which key of a provider to use next: rotation, per-key concurrency and cooldowns.

A plain class with no I/O and no clock of its own: every method that depends on time takes
`now`, so tests drive it with exact numbers.

Cooldowns are kept per (key, model) for rate limits, since providers meter each model
separately (Groq, Gemini), and per key (all models) for auth failures. A cooldown honours the
upstream's Retry-After when given; otherwise it climbs a ladder with each consecutive failure.
A new failure extends a cooldown, never shortens it; a success resets the ladder.
"""

from __future__ import annotations

import attrs

from config.model import Credential
from protocols.failures import FailureClass, UpstreamFailure

ALL_MODELS = None


@attrs.frozen
class CooldownPolicy:
    rate_limit_ladder: tuple[float, ...] = (10.0, 30.0, 60.0, 120.0)
    auth_ladder: tuple[float, ...] = (300.0, 900.0, 3600.0)

    def duration(self, failure: FailureClass, strikes: int, retry_after: float | None) -> float:
        if retry_after is not None and failure is FailureClass.RATE_LIMIT:
            return retry_after
        ladder = self.auth_ladder if failure is FailureClass.AUTH else self.rate_limit_ladder
        return ladder[min(strikes, len(ladder)) - 1]


@attrs.define
class Cooldown:
    until: float
    strikes: int


@attrs.frozen
class Busy:
    """Keys exist that are not cooling, but every one is at its concurrency cap."""


@attrs.frozen
class Cooling:
    until: float | None  # None: no key will free up by itself (all excluded)


@attrs.define
class KeyPool:
    keys: tuple[Credential, ...]
    rotation: str = "balanced"
    max_concurrent: int | None = None
    policy: CooldownPolicy = CooldownPolicy()
    in_flight: list[int] = attrs.field(init=False)
    _cooldowns: dict[tuple[int, str | None], Cooldown] = attrs.field(init=False, factory=dict)
    _cursor: int = attrs.field(init=False, default=0)

    def __attrs_post_init__(self) -> None:
        if not self.keys:
            raise ValueError("a key pool needs at least one key")
        self.in_flight = [0] * len(self.keys)

    def acquire(
        self, model: str, now: float, exclude: frozenset[int] = frozenset()
    ) -> int | Busy | Cooling:
        """Lease a key for `model`: its index, or why none can be had now."""
        ready = [
            index
            for index in range(len(self.keys))
            if index not in exclude and self.cooling_until(index, model, now) is None
        ]
        if not ready:
            return Cooling(self.next_free_at(model, now, exclude))
        open_keys = [index for index in ready if not self._at_cap(index)]
        if not open_keys:
            return Busy()
        index = self._choose(open_keys)
        self.in_flight[index] += 1
        return index

    def release(self, index: int) -> None:
        if self.in_flight[index] <= 0:
            raise ValueError(f"key {index} released more often than leased")
        self.in_flight[index] -= 1

    def record_success(self, index: int, model: str) -> None:
        self._cooldowns.pop((index, model), None)

    def record_failure(self, index: int, model: str, failure: UpstreamFailure, now: float) -> None:
        if not failure.failure.cools_key:
            return
        scope = ALL_MODELS if failure.failure is FailureClass.AUTH else model
        current = self._cooldowns.get((index, scope))
        strikes = (current.strikes if current else 0) + 1
        until = now + self.policy.duration(failure.failure, strikes, failure.retry_after)
        if current is not None:
            until = max(until, current.until)
        self._cooldowns[(index, scope)] = Cooldown(until=until, strikes=strikes)

    def cooling_until(self, index: int, model: str, now: float) -> float | None:
        """When `index` may serve `model` again, or None if it may now."""
        ends = [
            cooldown.until
            for scope in (model, ALL_MODELS)
            if (cooldown := self._cooldowns.get((index, scope))) is not None
            and cooldown.until > now
        ]
        return max(ends) if ends else None

    def next_free_at(
        self, model: str, now: float, exclude: frozenset[int] = frozenset()
    ) -> float | None:
        ends = [
            until
            for index in range(len(self.keys))
            if index not in exclude and (until := self.cooling_until(index, model, now)) is not None
        ]
        return min(ends) if ends else None

    def _at_cap(self, index: int) -> bool:
        return self.max_concurrent is not None and self.in_flight[index] >= self.max_concurrent

    def _choose(self, candidates: list[int]) -> int:
        if self.rotation == "sequential":
            return candidates[0]
        # balanced: the least loaded key, ties taken in turn starting after the last one chosen
        count = len(self.keys)
        least = min(self.in_flight[index] for index in candidates)
        tied = [index for index in candidates if self.in_flight[index] == least]
        chosen = min(tied, key=lambda index: (index - self._cursor) % count)
        self._cursor = (chosen + 1) % count
        return chosen
