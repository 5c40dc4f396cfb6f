"""Rate windows, key leases, cooldowns, probe claims and liveness: in memory for one process
(`LocalState`), in Redis/Valkey for many (`RedisState`), behind one interface (`SharedState`).
"""

from actors.state.local import LocalState
from actors.state.shared import NEVER, SharedState, Window

__all__ = ["NEVER", "LocalState", "SharedState", "Window"]
# `RedisState` is imported from `actors.state.redis_state` where a `state:` names a Redis:
# coredis costs every process 13 MB that only a fleet needs.
