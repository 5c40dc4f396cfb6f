"""A real gateway (`edge.server.serve`, Hypercorn and all) over simulated upstreams, in the
test's trio loop, with a stop the test controls.

`serving(...)` starts the upstreams and the gateway on 127.0.0.1:0 with `stop.wait` as its
shutdown trigger; `Served.stopped` is set once `serve()` has returned. Provider `alpha` serves
the virtual model `vm` unless a test names other chains.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio
import yaml

import config as baton_config
from edge.server import serve
from edge.simulator import Complete, Script, Simulator, always
from tests.e2e.harness import CLIENT_KEY, gateway_config, start_upstreams
from tests.edge.raw_http import RawClient, raw_request

AUTH = {"authorization": f"Bearer {CLIENT_KEY}"}


def chat_body(model: str = "vm", *, stream: bool = False, content: str = "hi") -> bytes:
    payload: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": content}]}
    if stream:
        payload["stream"] = True
    return json.dumps(payload).encode()


def chat_request(
    body: bytes | None = None, headers: dict[str, str] | None = None, **options: Any
) -> bytes:
    """The exact bytes of an authenticated `POST /v1/chat/completions`."""
    fields = {**AUTH, "content-type": "application/json", **(headers or {})}
    return raw_request(
        "POST", "/v1/chat/completions", fields, chat_body() if body is None else body, **options
    )


@attrs.define
class Served:
    url: str
    port: int
    upstreams: dict[str, Simulator]
    stop: trio.Event  # set it: the gateway begins its stop
    stopped: trio.Event  # set once serve() has returned

    async def connect(self) -> RawClient:
        return await RawClient.connect(self.port)

    async def assert_serving(self) -> None:
        """A fresh connection gets a chat call answered: nothing before brought it down."""
        async with await self.connect() as client:
            await client.send(chat_request())
            reply = await client.reply()
        assert reply.status == 200, reply.raw
        assert json.loads(reply.body)["object"] == "chat.completion"


@asynccontextmanager
async def serving(
    scripts: dict[str, Script] | None = None,
    *,
    virtual_models: dict[str, list[str]] | None = None,
    certfile: str | None = None,
    keyfile: str | None = None,
    **config: Any,
) -> AsyncIterator[Served]:
    """Upstreams for `scripts` (default: `alpha` answering every call) and a gateway over
    them; `config` goes to `gateway_config` (server=, timeouts=, ...)."""
    async with trio.open_nursery() as nursery:
        upstreams = await start_upstreams(
            nursery, **(scripts or {"alpha": always(Complete("hello"))})
        )
        document = gateway_config(
            upstreams, virtual_models=virtual_models or {"vm": ["alpha/m"]}, **config
        )
        loaded = baton_config.load_text(yaml.safe_dump(document), env={}, base_dir=None)
        stop, stopped = trio.Event(), trio.Event()

        async def run(task_status: trio.TaskStatus[list[str]]) -> None:
            try:
                await serve(
                    loaded.config,
                    certfile=certfile,
                    keyfile=keyfile,
                    shutdown_trigger=stop.wait,
                    task_status=task_status,
                )
            finally:
                stopped.set()

        urls = await nursery.start(run)
        port = int(urls[0].rpartition(":")[2])
        yield Served(urls[0], port, upstreams, stop, stopped)
        nursery.cancel_scope.cancel()
