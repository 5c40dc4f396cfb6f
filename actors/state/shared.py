"""What several baton processes must agree on, and the one interface both backends keep.

One process keeps its rate windows, cooldowns and key leases in memory (`LocalState`). Past
one process, workers and machines share them through Redis or Valkey (`RedisState`), so that
N instances behind a load balancer spend a key's 60 requests a minute once, not N times.

Times are wall-clock epoch seconds (`time.time()`), passed in by the caller as `now`, so every
instance, and Redis, reckons with the same numbers, and tests need no sleeping. Keys and
scopes are strings the caller builds from provider name, key *alias* and model: never a
secret, since they end up in Redis key names.

The semantics, identical in both backends:

- **Rolling windows** (`take`): a window of `seconds` counts each request recorded at `t`
  while `now < t + seconds` (it drops out at `t + seconds` exactly). A take records one
  request and `tokens` tokens in *every* window of the scope, or, if any window lacks room,
  records nothing and answers how long until all would have room: the latest, over the
  blocked windows, of the moment enough of the oldest entries will have dropped out. A
  request that can never fit (`max_requests == 0`, or `tokens > max_tokens`) answers
  `math.inf`. A scope must always be taken with the same windows (same `seconds`).
  A window with `ends` is fixed instead (a provider's day from `daily_reset_utc`): it counts
  what was taken since it began and is empty from `ends` on (the next take passes the next
  `ends`); a fixed window that is full answers `ends - now`.
  A take also answers to the scope's live caps (below): a cap with less left than the take
  needs (1 for `requests`, `tokens` for `tokens`) blocks it until the cap's `until`; a take
  that is recorded spends its need from every live cap. A take with no windows checks and
  spends only the caps.
- **Caps** (`observe`): what an upstream's rate-limit headers said of a key's window, as a
  fact for the whole fleet: `remaining` requests or tokens until `until`, as of `seen`. A cap
  replaces the one of the same name unless that one was seen later (older news), and is gone
  at `until` (the upstream's reset). Between observations every instance's takes spend it,
  so the fleet paces to what the upstream has left, not each instance to what it alone saw.
- **Settling tokens** (`settle`): tokens are estimated up front. A positive correction is
  recorded at `now` as tokens without a request (the usage happened, so it counts, a little
  later than it did: cautious). A negative one is ignored: the estimate stays counted until it
  drops out, which can only make a window wait longer than needed, never send a 429-earning
  request. Settle applies to the windows this instance last took the scope with.
- **Leases** (`lease`/`release`): at most `cap` live leases per key; a lease taken at `now`
  with `ttl` is live while `now < taken + ttl`, so a crashed instance's leases free
  themselves. Leasing again with a live `lease_id` renews it and succeeds.
- **Cooldowns** (`cool`/`cooling`): extend only, each with its ladder's `strikes` (the
  highest any instance has reported, so every instance escalates from the fleet's count);
  `cooling(prefix, now)` lists every (key, scope) whose key starts with `prefix` and whose
  end is after `now`, with its end and strikes.
- **Probe claims** (`claim_probe`): the first claimer of (key, scope) wins for `ttl` seconds
  of the backend's clock; every other claim in that time, the winner's included, is refused.
- **Heartbeats** (`heartbeat`): an instance is alive for `ttl` after its last heartbeat; the
  answer is how many are alive.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Protocol, runtime_checkable

import attrs

NEVER = math.inf  # what `take` answers for a request no window could ever hold
SEPARATOR = "\x1f"  # joins key and scope in stored names; neither may contain it


@attrs.frozen
class Window:
    """A rolling window: at most `max_requests` requests and `max_tokens` tokens within any
    `seconds`; None means that dimension is not limited. With `ends` (wall clock), a fixed
    window instead: the `seconds` up to `ends`, empty again from `ends` on."""

    seconds: float
    max_requests: int | None = None
    max_tokens: int | None = None
    ends: float | None = None

    @property
    def span(self) -> str:
        """What tells this window's count apart from the scope's other windows'."""
        seconds = self.seconds
        return str(int(seconds)) if seconds == int(seconds) else repr(seconds)

    @property
    def name(self) -> str:
        """`span`, and for a fixed window its period's end: each period counts apart."""
        return self.span if self.ends is None else f"{self.span}@{self.ends!r}"

    def lives(self, now: float) -> float:
        """Seconds from `now` that what is taken now may still count."""
        return self.seconds if self.ends is None else max(0.0, self.ends - now)

    def divided(self, instances: int) -> Window:
        """This window's share for one of `instances` (each limit floored, but at least 1)."""
        if instances <= 1:
            return self
        return attrs.evolve(
            self,
            max_requests=_share(self.max_requests, instances),
            max_tokens=_share(self.max_tokens, instances),
        )


@attrs.frozen
class Cap:
    """An upstream's word on one window of a key: `remaining` requests or tokens (`kind`)
    until `until`, as of `seen` (both wall clock). `name` is the header family's."""

    name: str
    kind: str  # "requests" | "tokens"
    remaining: int
    until: float
    seen: float

    def need(self, tokens: int) -> int:
        return 1 if self.kind == "requests" else tokens


class Cooled(NamedTuple):
    """A shared cooldown: when it ends, and how many strikes up its ladder it is."""

    until: float
    strikes: int


def _share(limit: int | None, instances: int) -> int | None:
    if limit is None or limit == 0:
        return limit
    return max(1, limit // instances)


def check_name(*names: str) -> None:
    """Refuse a key or scope that holds the separator: a caller's bug, found at once."""
    for name in names:
        if SEPARATOR in name:
            raise ValueError(f"{name!r} contains the reserved separator \\x1f")


@runtime_checkable
class SharedState(Protocol):
    """Rate windows, leases, cooldowns, probe claims and liveness, as one gateway sees them.

    `up` is False while a shared backend is unreachable and answers come from local state."""

    @property
    def up(self) -> bool: ...

    async def take(
        self, scope: str, windows: tuple[Window, ...], tokens: int, now: float
    ) -> float | None: ...

    async def settle(self, scope: str, token_delta: int, now: float) -> None: ...

    async def observe(self, scope: str, caps: tuple[Cap, ...]) -> None: ...

    async def lease(self, key: str, cap: int, lease_id: str, ttl: float, now: float) -> bool: ...

    async def release(self, key: str, lease_id: str) -> None: ...

    async def cool(self, key: str, scope: str, until: float, strikes: int = 1) -> None: ...

    async def cooling(self, prefix: str, now: float) -> dict[tuple[str, str], Cooled]: ...

    async def claim_probe(self, key: str, scope: str, ttl: float) -> bool: ...

    async def heartbeat(self, instance: str, ttl: float) -> int: ...
