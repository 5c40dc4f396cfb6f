"""The provider actor: owns one provider's HTTP client and runs each attempt as its own task.

Attempts arrive on the inbox; each runs in the cancel scope its requester gave it, so the
requester can stop it (client gone, deadline reached) and the upstream request is closed with it.
"""

from __future__ import annotations

import math

import attrs
import httpx
import trio

from actors.exchange import run_attempt
from actors.messages import Attempt
from config.model import ProviderConfig, Timeouts


def upstream_timeout(timeouts: Timeouts) -> httpx.Timeout:
    # first_byte and idle are enforced with trio scopes in the exchange; httpx's own read and
    # write timeouts are a backstop a little behind them.
    return httpx.Timeout(
        connect=timeouts.connect,
        read=max(timeouts.idle, timeouts.first_byte) + 5,
        write=timeouts.idle,
        pool=timeouts.total,
    )


@attrs.define
class ProviderActor:
    config: ProviderConfig
    timeouts: Timeouts
    _send: trio.MemorySendChannel[Attempt] = attrs.field(init=False)
    _inbox: trio.MemoryReceiveChannel[Attempt] = attrs.field(init=False)
    _headers: dict[str, str] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._send, self._inbox = trio.open_memory_channel[Attempt](math.inf)
        self._headers = {"content-type": "application/json", **self.config.headers}

    def submit(self, attempt: Attempt) -> None:
        self._send.send_nowait(attempt)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        base_url = self.config.base_url.rstrip("/") + "/"
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=256)
        async with (
            httpx.AsyncClient(
                base_url=base_url,
                timeout=upstream_timeout(self.timeouts),
                limits=limits,
                trust_env=False,
            ) as client,
            trio.open_nursery() as nursery,
        ):
            task_status.started()
            async for attempt in self._inbox:
                nursery.start_soon(self._run_one, client, attempt)

    async def _run_one(self, client: httpx.AsyncClient, attempt: Attempt) -> None:
        with attempt.scope:
            await run_attempt(client, attempt, self.timeouts, self._headers)
        attempt.reply.close()
