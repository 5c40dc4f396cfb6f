"""What the instances of one gateway must agree on (rate windows, key leases, cooldowns, probe
claims, liveness), behind one interface (`SharedState`): `Solo` for a gateway of one process,
`RedisState` (Redis/Valkey) for many, with `LocalState` as its in-memory fallback.
"""

from actors.state.local import LocalState
from actors.state.shared import NEVER, Cap, Cooled, SharedState, Window
from actors.state.solo import Solo

__all__ = ["NEVER", "Cap", "Cooled", "LocalState", "SharedState", "Solo", "Window"]
# `RedisState` is imported from `actors.state.redis_state` where a `state:` names a Redis:
# coredis costs every process 13 MB that only a fleet needs.
