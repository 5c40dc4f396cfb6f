"""A credential pool's part of the fleet: key cooldowns and concurrency shared through the
pool's `SharedState` (`actors.state`): Redis when `state:` names one, else `Solo`, for which
every question below is already answered by the pool's own book.

Each pool keeps its own `KeyPool` (its cooldown ladders, half-open probes and rotation stay
local bookkeeping); what the fleet must agree on crosses over as facts:
- **Cooldowns.** A failure that cools a key here is written to the shared state with its end
  (wall-clock); before serving its queue, a pool reads the provider's shared cooldowns and
  imposes them on its own book (`KeyPool.impose`). So a 429 on one instance keeps every
  instance off the key until its Retry-After. An auth failure cools the whole key (`*`), as
  does a lockout (`*lockout`). Each carries its ladder's strikes, and an instance's ladder
  rises to the fleet's, so a key failing on several instances escalates as it would on one.
- **Concurrency.** A key with `max_concurrent_per_key` also takes one of its shared slots
  (`lease`, with a TTL so a crashed instance's slots free themselves); if the fleet has none
  free, the key is passed over as busy and the queue is looked at again shortly
  (`FLEET_POLL`), since the slot frees on another instance, which sends no message here.
- **Half-open probes.** When a cooldown ends, one instance of the fleet sends the probe: a
  pool whose lease would be the probe claims it in the shared state first; an instance that
  loses the claim keeps the key closed for `probe_hold` seconds, as for a probe of its own;
  by then the probe's failure, if it failed, has come over as a new shared cooldown.
Keys are named `<provider>/<alias>`: never a secret.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict

import attrs
import trio

from actors.keypool import AUTH, LOCKOUT, KeyPool
from actors.state import SharedState, Solo
from protocols.failures import UpstreamFailure

LEASE_TTL = 900.0  # seconds a shared slot lives if its instance dies (longer than any call)
SLOT_PATIENCE = 1.0  # seconds giving a fleet slot back may take (the shared state's own bound)
FLEET_POLL = 0.05  # seconds between looks when the fleet's slots are all taken
# the shared scopes of a whole key's cooldown, by its cause (a model is never named so)
WHOLE_KEY_SCOPES = {AUTH: "*", LOCKOUT: "*lockout"}
WHOLE_KEY_CAUSES = {scope: cause for cause, scope in WHOLE_KEY_SCOPES.items()}


@attrs.define
class FleetKeys:
    provider: str
    shared: SharedState
    _slots: dict[int, list[str]] = attrs.field(factory=lambda: defaultdict(list))

    @classmethod
    def alone(cls) -> FleetKeys:
        """A pool's part of a gateway of one instance (the keys' names are never asked)."""
        return cls("", Solo())

    def key(self, pool: KeyPool, index: int) -> str:
        return f"{self.provider}/{pool.keys[index].alias}"

    async def impose_cooldowns(self, pool: KeyPool, now: float) -> None:
        """Bring the fleet's cooldowns of this provider's keys into `pool` (monotonic `now`)."""
        wall = time.time()
        cooled = await self.shared.cooling(f"{self.provider}/", wall)
        if not cooled:
            return
        index_of = {f"{self.provider}/{key.alias}": index for index, key in enumerate(pool.keys)}
        for (key, scope), (until, strikes) in cooled.items():
            index = index_of.get(key)
            if index is None:
                continue
            cause = WHOLE_KEY_CAUSES.get(scope)
            if cause is None:
                pool.impose(index, scope, now + (until - wall), strikes)
            else:
                pool.impose(index, None, now + (until - wall), strikes, cause)

    async def share_cooldown(
        self, pool: KeyPool, index: int, model: str, failure: UpstreamFailure, now: float
    ) -> None:
        """`failure` cooled `index` here: tell the fleet until when, and how far up its
        ladder (the model's cooldown, and the whole key's when an auth failure or a lockout
        closed it)."""
        if not failure.failure.cools_key:
            return
        wall = time.time()
        for cause, cooldown in pool.cooldowns_of(index, model):
            if cooldown.until <= now:
                continue  # half-open, not cooling
            scope = model if cause is None else WHOLE_KEY_SCOPES.get(cause, "*")
            until = wall + (cooldown.until - now)
            await self.shared.cool(self.key(pool, index), scope, until, cooldown.strikes)

    async def claim_probe(self, pool: KeyPool, index: int, model: str, now: float) -> bool:
        """The lease of `index` just taken is a probe here: is it this instance's to send?
        If not, the key stays closed for `model` here while the other instance's is out."""
        if not pool.holds_probe(index, model, now):
            return True
        policy = pool.policy
        # held for `probe_hold`: long enough that the fleet sends one probe, not one each; short
        # enough that a probe whose answer never crosses over does not close the key for long
        if await self.shared.claim_probe(self.key(pool, index), model, policy.probe_hold):
            return True
        pool.impose(index, model, now + policy.probe_hold)
        return False

    async def take_slot(self, pool: KeyPool, index: int) -> bool:
        """One of the fleet's slots of key `index`, if it has a cap; False if none is free."""
        cap = pool.cap(index)
        if cap is None:
            return True
        lease_id = uuid.uuid4().hex
        if not await self.shared.lease(
            self.key(pool, index), cap, lease_id, LEASE_TTL, time.time()
        ):
            return False
        self._slots[index].append(lease_id)
        return True

    async def give_slot(self, pool: KeyPool, index: int) -> None:
        """A lease of key `index` ended here: free one of the slots it took (shielded: a
        cancelled lease must not hold a slot of the fleet until its TTL)."""
        slots = self._slots.get(index)
        if slots:
            with trio.move_on_after(SLOT_PATIENCE, shield=True):
                await self.shared.release(self.key(pool, index), slots.pop())
