"""The provider actor: owns one provider's HTTP client (its pool of upstream connections) for
the life of the system, and runs attempts on it in the callers' own tasks.

An attempt is not a message to a task of its own: the walk awaits `attempt()` directly, so the
upstream request lives inside the caller's cancel scope (a client that leaves, or a deadline,
cancels it where it stands) and a stream is read by whoever relays it, with no hop between.
"""

from __future__ import annotations

import attrs
import trio

from actors.exchange import run_attempt
from actors.http_client import HttpClient
from actors.messages import Attempt, AttemptOutcome
from config.model import ProviderConfig, Timeouts

MAX_IDLE_CONNECTIONS = 256


@attrs.define
class ProviderActor:
    config: ProviderConfig
    timeouts: Timeouts
    _client: HttpClient = attrs.field(init=False)
    _headers: list[tuple[bytes, bytes]] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._client = HttpClient(
            self.config.base_url,
            connect_timeout=self.timeouts.connect,
            max_idle=MAX_IDLE_CONNECTIONS,
        )
        headers = {"content-type": "application/json", **self.config.headers}
        self._headers = [(name.lower().encode(), value.encode()) for name, value in headers.items()]

    async def attempt(self, attempt: Attempt) -> AttemptOutcome:
        return await run_attempt(
            self._client, attempt, self.timeouts, self._headers, ask_usage=self.config.stream_usage
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Hold the client until the system stops, then close its idle connections."""
        try:
            task_status.started()
            await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):
                await self._client.aclose()
