"""What is known of each provider's health, and the order a chain is tried in because of it.

The bookkeeping of the health checker (`actors.health`): plain and synchronous, no I/O, no
clock. Every method takes `now` in monotonic seconds. It is fed from two sides: the checker's
probes (`observe_probe`) and the walk's real calls (`observe_call`).

Only failures that speak of the provider itself count: server errors, timeouts, refused or
cut connections and malformed replies (`PROVIDER_FAULTS`). A rate limit or a rejected key is
the key's business (the credential pool cools it), a caller fault, a missing model or an
overlong prompt the request's; those leave the provider's record as it was.

A provider's state, from its last `HealthPolicy.window` (10) outcomes no older than
`forget_after` (300 s), newest last:
- `unknown`: none;
- `down`: the newest `down_after` (3) all failed, or the newest is a failed probe (a probe is a
  deliberate check of the provider, not of one request);
- `degraded`: otherwise, the newest failed, or `degraded_after` (2) or more of them failed;
- `up`: otherwise.
So one success after an outage makes a provider `degraded` (its failures are still recent),
and a run of successes `up` again; a provider nothing is heard from goes back to `unknown`
after `forget_after`, and is then tried in its configured place again.

Latency is an exponentially weighted moving average of successful calls and probes, in
seconds: the first sample sets it, each later one moves it `smoothing` (0.3) of the way.

`order(targets, mode, now)` gives a chain in the order to try it: `listed` keeps the
configured order, `priority` sorts by the providers' `priority` (lower first), `latency` by
the average (providers without one after those with one). In every mode the providers that
are known to be down go last, in the order the mode gave them. Every sort is stable.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from config.model import CHAIN_ORDERS, Config, Target
from protocols.failures import FailureClass

PROVIDER_FAULTS = frozenset(
    {FailureClass.SERVER, FailureClass.TIMEOUT, FailureClass.CONNECT, FailureClass.MALFORMED}
)
DEFAULT_PRIORITY = 100


class Health(enum.Enum):
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"
    UNKNOWN = "unknown"


@attrs.frozen
class HealthPolicy:
    down_after: int = 3  # failures in a row (calls or probes)
    degraded_after: int = 2  # failures among the outcomes remembered
    window: int = 10  # outcomes remembered per provider
    forget_after: float = 300.0  # seconds after which an outcome no longer counts
    smoothing: float = 0.3  # the weight of the newest latency sample


@attrs.frozen
class Outcome:
    at: float
    ok: bool
    probe: bool


@attrs.define
class _Record:
    outcomes: deque[Outcome]
    latency: float | None = None
    last_call: float | None = None  # the newest real call that said something of the provider


Listener = Callable[[str, Health, Health], None]


@attrs.define
class HealthBook:
    priorities: Mapping[str, int] = attrs.field(factory=dict)
    policy: HealthPolicy = HealthPolicy()
    # called with (provider, before, after) when an observation changes a provider's state
    on_change: Listener | None = None
    _records: dict[str, _Record] = attrs.field(init=False, factory=dict)

    @classmethod
    def for_config(cls, config: Config, policy: HealthPolicy = HealthPolicy()) -> HealthBook:
        priorities = {name: provider.priority for name, provider in config.providers.items()}
        return cls(priorities, policy)

    # -- what is observed -------------------------------------------------------------------

    def observe_call(
        self, provider: str, failure: FailureClass | None, latency: float | None, now: float
    ) -> Health:
        """A real call to `provider` ended: `failure` None for a success, with `latency` its
        seconds from sending to the first byte of content. Returns the provider's state."""
        if failure is not None and failure not in PROVIDER_FAULTS:
            return self.state(provider, now)
        self._record(provider).last_call = now
        return self._observe(provider, failure is None, latency, now, probe=False)

    def observe_probe(
        self, provider: str, failure: FailureClass | None, latency: float | None, now: float
    ) -> Health:
        """A probe of `provider` ended, as `observe_call`."""
        if failure is not None and failure not in PROVIDER_FAULTS:
            return self.state(provider, now)
        return self._observe(provider, failure is None, latency, now, probe=True)

    def _observe(
        self, provider: str, ok: bool, latency: float | None, now: float, *, probe: bool
    ) -> Health:
        before = self.state(provider, now)
        record = self._record(provider)
        record.outcomes.append(Outcome(now, ok, probe))
        if ok and latency is not None:
            latency = max(latency, 0.0)
            smoothing = self.policy.smoothing
            previous = record.latency
            record.latency = (
                latency if previous is None else previous + smoothing * (latency - previous)
            )
        after = self.state(provider, now)
        if after is not before and self.on_change is not None:
            self.on_change(provider, before, after)
        return after

    def _record(self, provider: str) -> _Record:
        record = self._records.get(provider)
        if record is None:
            record = self._records[provider] = _Record(deque(maxlen=self.policy.window))
        return record

    def copy(self) -> HealthBook:
        """A copy no later observation reaches (what `HealthView` holds)."""
        book = HealthBook(self.priorities, self.policy)
        book._records = {
            name: _Record(deque(r.outcomes, maxlen=self.policy.window), r.latency, r.last_call)
            for name, r in self._records.items()
        }
        return book

    # -- what is known ----------------------------------------------------------------------

    def state(self, provider: str, now: float) -> Health:
        record = self._records.get(provider)
        if record is None:
            return Health.UNKNOWN
        policy = self.policy
        recent = [o for o in record.outcomes if now - o.at < policy.forget_after]
        if not recent:
            return Health.UNKNOWN
        newest = recent[-1]
        streak = 0
        for outcome in reversed(recent):
            if outcome.ok:
                break
            streak += 1
        if streak >= policy.down_after or (newest.probe and not newest.ok):
            return Health.DOWN
        failures = sum(1 for outcome in recent if not outcome.ok)
        if not newest.ok or failures >= policy.degraded_after:
            return Health.DEGRADED
        return Health.UP

    def latency(self, provider: str) -> float | None:
        """The moving average of `provider`'s latency in seconds, None before any success."""
        record = self._records.get(provider)
        return None if record is None else record.latency

    def heard_from_since(self, provider: str, since: float) -> bool:
        """True when a real call said something of `provider` at `since` or later (a probe
        would tell nothing new)."""
        record = self._records.get(provider)
        return record is not None and record.last_call is not None and record.last_call >= since

    def summary(self, now: float) -> dict[str, dict[str, Any]]:
        """Plain values for `/stats`: every provider heard from, its state and latency."""
        return {
            name: {"state": self.state(name, now).value, "latency": record.latency}
            for name, record in self._records.items()
        }

    # -- what it means for a chain ----------------------------------------------------------

    def order(self, targets: Iterable[Target], mode: str, now: float) -> tuple[Target, ...]:
        """`targets` in the order to try them under `mode` (see the module's docstring)."""
        ranked = list(targets)
        if mode == "priority":
            ranked.sort(key=lambda t: self.priorities.get(t.provider, DEFAULT_PRIORITY))
        elif mode == "latency":
            ranked.sort(key=self._latency_key)
        elif mode != "listed":
            raise ValueError(
                f"unknown chain order {mode!r} (expected one of {', '.join(CHAIN_ORDERS)})"
            )
        down = {t.provider for t in ranked if self.state(t.provider, now) is Health.DOWN}
        if not down:
            return tuple(ranked)
        return tuple(sorted(ranked, key=lambda t: t.provider in down))

    def _latency_key(self, target: Target) -> tuple[bool, float]:
        latency = self.latency(target.provider)
        return (latency is None, latency or 0.0)


@attrs.frozen
class HealthView:
    """What the health checker knew when it last published: the book's questions, asked of a
    copy, for readers that only look (the walk's chain order, /stats, /metrics)."""

    _book: HealthBook = attrs.field(factory=HealthBook, alias="book")
    # providers another instance of the fleet found down (`actors.health`, with `state:`)
    fleet_down: frozenset[str] = frozenset()

    def state(self, provider: str, now: float) -> Health:
        """The book's verdict; a provider the fleet found down is down here too unless this
        instance has its own recent evidence that it is up."""
        own = self._book.state(provider, now)
        if provider in self.fleet_down and own is not Health.UP:
            return Health.DOWN
        return own

    def latency(self, provider: str) -> float | None:
        return self._book.latency(provider)

    def heard_from_since(self, provider: str, since: float) -> bool:
        return self._book.heard_from_since(provider, since)

    def summary(self, now: float) -> dict[str, dict[str, Any]]:
        return self._book.summary(now)

    def order(self, targets: Iterable[Target], mode: str, now: float) -> tuple[Target, ...]:
        ranked = self._book.order(targets, mode, now)
        if not self.fleet_down:
            return ranked
        return tuple(sorted(ranked, key=lambda t: self.state(t.provider, now) is Health.DOWN))
