"""`SharedState` for a gateway of one instance: there is nobody to agree with.

The actors keep their own bookkeeping in every deployment: the credential pool its `KeyPool`
(cooldown ladders, half-open probes, per-key concurrency), the rate-limit tracker its
`RateLimitBook`, the health checker its `HealthBook`, and the state keeper writes them to
SQLite so they outlive a restart. Those books answer first, on the monotonic clock, without
I/O. What a fleet adds is only what several instances must agree on; each actor asks its
`SharedState` that second question the same way whichever backend it holds:

- `RedisState`: many instances (`state:`), facts shared through Redis or Valkey;
- `Solo`: one instance, the default. Its books are the whole gateway's, so every answer is
  the one they already gave: the window the tracker's book found room in has room, a key the
  pool leased is the only lease of it, a cooldown it set is known everywhere it matters, and
  its probe is the only probe. Nothing is stored twice and nothing is enforced twice.

`actors.system` picks one at start-up; no actor, walk or route asks which it has. `LocalState`
is neither: it keeps the shared semantics in memory, as `RedisState`'s fallback while Redis is
away and as the reference the backend battery checks Redis against.
"""

from __future__ import annotations

import attrs
import trio

from actors.state.shared import Cap, Cooled, Window


@attrs.frozen
class Solo:
    """The one instance of a gateway of one."""

    @property
    def up(self) -> bool:
        return True  # nothing remote to lose

    async def take(
        self, scope: str, windows: tuple[Window, ...], tokens: int, now: float
    ) -> float | None:
        await trio.lowlevel.checkpoint()
        return None  # the asking tracker's book found room: that is all the room there is

    async def settle(self, scope: str, token_delta: int, now: float) -> None:
        await trio.lowlevel.checkpoint()  # the book settles its own reservation

    async def observe(self, scope: str, caps: tuple[Cap, ...]) -> None:
        await trio.lowlevel.checkpoint()  # the book that read the headers paces the only sender

    async def lease(self, key: str, cap: int, lease_id: str, ttl: float, now: float) -> bool:
        await trio.lowlevel.checkpoint()
        return True  # the pool's own cap already held: its leases are all the key's leases

    async def release(self, key: str, lease_id: str) -> None:
        await trio.lowlevel.checkpoint()

    async def cool(self, key: str, scope: str, until: float, strikes: int = 1) -> None:
        await trio.lowlevel.checkpoint()  # the pool that cooled the key is every pool of it

    async def cooling(self, prefix: str, now: float) -> dict[tuple[str, str], Cooled]:
        await trio.lowlevel.checkpoint()
        return {}  # no cooldown this instance's books do not already hold

    async def claim_probe(self, key: str, scope: str, ttl: float) -> bool:
        await trio.lowlevel.checkpoint()
        return True  # no other instance to send it

    async def heartbeat(self, instance: str, ttl: float) -> int:
        await trio.lowlevel.checkpoint()
        return 1
