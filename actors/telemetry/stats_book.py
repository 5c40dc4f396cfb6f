"""The running sums behind /stats: what every finished call added, by provider and key.

A plain class, fed one `CallRecord` at a time (`add`) on the trio thread, with no I/O and no
clock of its own. Each attempted hop of a record counts for its provider and key (an attempt,
a success or a failure by class, the latency of a successful one); the call itself counts in
the totals, and its tokens and cost count *today* for the provider and key that served it.

"Today" starts at `day_start` (unix seconds: the last daily reset) and lasts a day; a record
or a snapshot past its end rolls the day over and starts every today-counter afresh. At
start-up `restore_today` takes today's sums from the stored records, so they survive a
restart; the other counters are since start-up.

Percentiles are over the last `SAMPLES` values of each provider, sorted when asked: adding
stays O(1) on the request path, and a snapshot sorts at most a few thousand numbers.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Iterable
from typing import Any

import attrs

from actors.messages import Hop
from actors.telemetry.record import CUT, OUTCOMES, CallRecord
from protocols.usage import Usage

DAY = 86_400.0
SAMPLES = 1_000
RECENT = 50
TodayRow = tuple[str | None, str | None, int, Usage, float]  # provider, key, calls, usage, cost


@attrs.define
class Samples:
    values: deque[float] = attrs.field(factory=lambda: deque(maxlen=SAMPLES))

    def add(self, value: float) -> None:
        self.values.append(value)

    def percentiles_ms(self) -> dict[str, float | None]:
        """p50 and p95 in milliseconds (nearest rank); None before any sample."""
        if not self.values:
            return {"p50": None, "p95": None}
        ordered = sorted(self.values)
        last = len(ordered) - 1

        def rank(q: float) -> float:  # nearest rank: the smallest value with q of them at or below
            return round(ordered[min(last, max(0, math.ceil(q * len(ordered)) - 1))] * 1000, 3)

        return {"p50": rank(0.5), "p95": rank(0.95)}


@attrs.define
class Today:
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float = 0.0

    def add(self, usage: Usage, cost: float | None, calls: int = 1) -> None:
        self.calls += calls
        self.input_tokens += usage.input or 0
        self.output_tokens += usage.output or 0
        self.reasoning_tokens += usage.reasoning or 0
        self.cached_tokens += usage.cached or 0
        self.cost_usd += cost or 0.0

    def as_dict(self) -> dict[str, Any]:
        data = attrs.asdict(self)
        data["cost_usd"] = round(self.cost_usd, 8)
        return data


@attrs.define
class KeyStats:
    attempts: int = 0
    successes: int = 0
    today: Today = attrs.field(factory=Today)


@attrs.define
class ProviderStats:
    attempts: int = 0
    successes: int = 0
    failures: Counter[str] = attrs.field(factory=Counter)
    latency: Samples = attrs.field(factory=Samples)
    ttft: Samples = attrs.field(factory=Samples)
    today: Today = attrs.field(factory=Today)
    keys: dict[str, KeyStats] = attrs.field(factory=dict)

    def key(self, alias: str) -> KeyStats:
        stats = self.keys.get(alias)
        if stats is None:
            stats = self.keys[alias] = KeyStats()
        return stats

    def as_dict(self) -> dict[str, Any]:
        return {
            "attempts": self.attempts,
            "successes": self.successes,
            "failures": dict(self.failures),
            "success_rate": round(self.successes / self.attempts, 4) if self.attempts else None,
            "latency_ms": self.latency.percentiles_ms(),
            "ttft_ms": self.ttft.percentiles_ms(),
            "today": self.today.as_dict(),
        }


@attrs.define
class StatsBook:
    day_start: float  # unix seconds: when "today" began
    outcomes: Counter[str] = attrs.field(factory=Counter)
    calls: int = 0
    failovers: int = 0
    today: Today = attrs.field(factory=Today)
    providers: dict[str, ProviderStats] = attrs.field(factory=dict)
    recent: deque[CallRecord] = attrs.field(factory=lambda: deque(maxlen=RECENT))

    def provider(self, name: str) -> ProviderStats:
        stats = self.providers.get(name)
        if stats is None:
            stats = self.providers[name] = ProviderStats()
        return stats

    def add(self, record: CallRecord) -> None:
        self.roll(record.started)
        self.calls += 1
        self.outcomes[record.outcome] += 1
        if record.failover:
            self.failovers += 1
        for hop in record.hops:
            if hop.key is None:  # not attempted
                continue
            provider, key = self.provider(hop.provider), self.provider(hop.provider).key(hop.key)
            provider.attempts += 1
            key.attempts += 1
            failure = attempt_failure(record, hop)
            if failure is None:
                provider.successes += 1
                key.successes += 1
                if hop.latency is not None:
                    provider.latency.add(hop.latency)
            else:
                provider.failures[failure] += 1
        self.today.add(record.usage, record.cost)
        if record.provider is not None:
            served = self.provider(record.provider)
            served.today.add(record.usage, record.cost)
            if record.key is not None:
                served.key(record.key).today.add(record.usage, record.cost)
            ttft = provider_ttft(record)
            if ttft is not None:
                served.ttft.add(ttft)
        self.recent.append(record)

    def roll(self, wall: float) -> None:
        """Start today afresh if `wall` is past its end."""
        if wall < self.day_start + DAY:
            return
        while wall >= self.day_start + DAY:
            self.day_start += DAY
        self.today = Today()
        for provider in self.providers.values():
            provider.today = Today()
            for key in provider.keys.values():
                key.today = Today()

    def restore_today(self, rows: Iterable[TodayRow]) -> None:
        """Today's sums from stored records: (provider, key, calls, usage, cost) per group."""
        for provider, key, calls, usage, cost in rows:
            self.today.add(usage, cost, calls)
            if provider is not None:
                self.provider(provider).today.add(usage, cost, calls)
                if key is not None:
                    self.provider(provider).key(key).today.add(usage, cost, calls)

    def totals(self) -> dict[str, int]:
        return {
            "calls": self.calls,
            **{outcome: self.outcomes[outcome] for outcome in OUTCOMES},
            "failovers": self.failovers,
        }

    def recent_calls(self) -> list[dict[str, Any]]:
        """The last calls, newest first, as /stats shows them."""
        return [_recent(record) for record in reversed(self.recent)]


def attempt_failure(record: CallRecord, hop: Hop) -> str | None:
    """How an attempt failed, None if it did not: the serving hop of a stream cut mid-way
    failed too (`cut`), though it answered at first."""
    if hop.failure is None and record.outcome == CUT and hop is record.hops[-1]:
        return CUT
    return hop.failure


def provider_ttft(record: CallRecord) -> float | None:
    """The serving provider's own time to first content: its hop's, from sending to the
    stream's first content (not counting the candidates tried before it)."""
    if not record.stream or record.provider is None or not record.hops:
        return None
    return record.hops[-1].latency


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def _recent(record: CallRecord) -> dict[str, Any]:
    return {
        "request_id": record.request_id,
        "started": record.started,
        "endpoint": record.endpoint,
        "model": record.model,
        "route": record.route,
        "provider": record.provider,
        "status": record.status,
        "outcome": record.outcome,
        "stream": record.stream,
        "failover": record.failover,
        "duration_ms": _ms(record.duration),
        "ttft_ms": _ms(record.ttft),
    }
