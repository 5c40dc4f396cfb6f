"""`GET /stats` in one function: the telemetry's sums joined with what the running system
knows now (health, keys in flight and cooling, rate headroom, the order chains walk in).
The shape is documented in docs/stats.md; keys appear by alias only.

It only looks: each actor's state is read from the frozen view the actor last published
(`CredentialPool.view`, `RateLimitTracker.view`, `HealthChecker.view`), never from the
bookkeeping the actor owns."""

from __future__ import annotations

import time as wall_time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
import trio

from actors.credentials import CredentialPool
from actors.health import HealthChecker
from actors.health_book import Health, HealthView
from actors.instance import INSTANCE
from actors.ratelimit import RateLimitTracker
from actors.routing import Router, effective_chain
from actors.telemetry.actor import Telemetry

if TYPE_CHECKING:  # coredis, which the fleet needs, is imported only for one
    from actors.fleet import Fleet

HEALTH_VALUE = {Health.UP: 1.0, Health.DEGRADED: 0.5, Health.DOWN: 0.0, Health.UNKNOWN: -1.0}


@attrs.frozen
class LiveState:
    """The parts of the running system /stats and /metrics read (never write)."""

    router: Router
    pools: Mapping[str, CredentialPool]
    trackers: Mapping[str, RateLimitTracker]
    checker: HealthChecker
    telemetry: Telemetry
    started: float  # unix seconds
    fleet: Fleet | None = None  # the shared state, when `state:` names one

    @property
    def health(self) -> HealthView:
        return self.checker.view

    def snapshot(self, now: float | None = None, wall: float | None = None) -> dict[str, Any]:
        """/stats at monotonic `now` and wall-clock `wall` (default: this moment)."""
        now = trio.current_time() if now is None else now
        wall = wall_time.time() if wall is None else wall
        stats = self.telemetry.book
        stats.roll(wall)
        totals = stats.totals()
        totals["in_flight"] = self.telemetry.calls_in_flight
        totals["records_dropped"] = self.telemetry.records_dropped
        return {
            "now": wall,
            "started": self.started,
            "instance": INSTANCE,  # which instance answered: telemetry is each instance's
            "state": self.fleet.summary() if self.fleet is not None else {"backend": "local"},
            "totals": totals,
            "today": stats.today.as_dict(),
            "providers": {name: self._provider(name, now) for name in self.pools},
            "virtual_models": self._virtual_models(now),
            "recent": stats.recent_calls(),
        }

    def live(self) -> dict[str, Any]:
        """What /metrics reads at each scrape (see actors.telemetry.metrics)."""
        now = trio.current_time()
        return {
            "calls_in_flight": self.telemetry.calls_in_flight,
            "in_flight": {name: sum(pool.view.in_flight) for name, pool in self.pools.items()},
            "cooling": {
                name: len({row[0] for row in pool.view.cooling(now)})
                for name, pool in self.pools.items()
            },
            "health": {name: HEALTH_VALUE[self.health.state(name, now)] for name in self.pools},
            "records_dropped": self.telemetry.records_dropped,
            "state_backend_up": {
                "redis" if self.fleet is not None else "local": (
                    1.0 if self.fleet is None or self.fleet.state.up else 0.0
                )
            },
        }

    def _provider(self, name: str, now: float) -> dict[str, Any]:
        pool = self.pools[name].view
        sums = self.telemetry.book.providers.get(name)
        latency = self.health.latency(name)
        view: dict[str, Any] = {
            "health": self.health.state(name, now).value,
            "latency_ewma_ms": None if latency is None else round(latency * 1000, 3),
            "in_flight": sum(pool.in_flight),
        }
        if sums is None:
            view.update(
                attempts=0,
                successes=0,
                failures={},
                success_rate=None,
                latency_ms={"p50": None, "p95": None},
                ttft_ms={"p50": None, "p95": None},
                today=_empty_today(),
            )
        else:
            view.update(sums.as_dict())
        cooling: dict[int, list[dict[str, Any]]] = {}
        for index, scope, remaining, strikes, cause in pool.cooling(now):
            row = {"scope": scope, "remaining_s": round(remaining, 3), "strikes": strikes}
            cooling.setdefault(index, []).append({**row, "cause": cause})
        tracker = self.trackers.get(name)
        keys = {}
        for index, credential in enumerate(pool.keys):
            key_sums = sums.keys.get(credential.alias) if sums is not None else None
            keys[credential.alias] = {
                "in_flight": pool.in_flight[index],
                "attempts": key_sums.attempts if key_sums else 0,
                "successes": key_sums.successes if key_sums else 0,
                "cooling": cooling.get(index, []),
                "windows": tracker.view.headroom(credential.alias, now) if tracker else {},
                "today": key_sums.today.as_dict() if key_sums else _empty_today(),
            }
        view["keys"] = keys
        return view

    def _virtual_models(self, now: float) -> dict[str, Any]:
        found = {}
        for name in self.router.config.virtual_models:
            chain = self.router.chain_for(name) or ()
            walked = effective_chain(self.router, self.health, name, now) or ()
            found[name] = {
                "order": self.router.order_for(name),
                "chain": [target.label for target in chain],
                "effective": [target.label for target in walked],
            }
        return found


def _empty_today() -> dict[str, Any]:
    return {
        "calls": 0,
        "input_tokens": 0,
        "output_tokens": 0,
        "reasoning_tokens": 0,
        "cached_tokens": 0,
        "cost_usd": 0.0,
    }
