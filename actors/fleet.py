"""This instance's membership of a fleet: the shared state's connection, held open for the
system's lifetime, and a heartbeat so every instance knows how many share the limits (which
the shared state divides by, should Redis go away: `actors.state.redis_state`).

`INSTANCE` (`actors.instance`) names this process to the fleet. `Fleet.run` is a
supervised actor like the others: it opens the state, heartbeats every `HEARTBEAT_EVERY`
seconds, and closes the state when the system stops.
"""

from __future__ import annotations

from typing import Any

import attrs
import trio

from actors.instance import INSTANCE
from actors.state.redis_state import RedisState

HEARTBEAT_EVERY = 2.0
HEARTBEAT_TTL = 6.0  # an instance unheard of for this long is gone
STOP_RELEASE = 2.0  # seconds a stopping instance spends giving its key slots back


@attrs.define
class Fleet:
    state: RedisState
    cluster: str
    instance: str = INSTANCE
    instances: int = 1  # alive at the last heartbeat

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with self.state:
            self.instances = await self.state.heartbeat(self.instance, HEARTBEAT_TTL)
            task_status.started()
            try:
                while True:
                    await trio.sleep(HEARTBEAT_EVERY)
                    self.instances = await self.state.heartbeat(self.instance, HEARTBEAT_TTL)
            finally:  # stopping: the key slots still out here go back before the client closes
                with trio.move_on_after(STOP_RELEASE, shield=True):
                    await self.state.release_held()

    def summary(self) -> dict[str, Any]:
        """What /stats shows of the shared state (never the URL's password)."""
        return {
            "backend": "redis",
            "location": self.state.location,
            "cluster": self.cluster,
            "up": self.state.up,
            "instances": self.instances,
            "outages": self.state.outages,
        }
