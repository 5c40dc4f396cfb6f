"""Rate windows, key leases, cooldowns, probe claims and liveness: in memory for one process
(`LocalState`), in Redis/Valkey for many (`RedisState`), behind one interface (`SharedState`).
"""

from actors.state.local import LocalState
from actors.state.redis_state import RedisState
from actors.state.shared import NEVER, SharedState, Window

__all__ = ["NEVER", "LocalState", "RedisState", "SharedState", "Window"]
