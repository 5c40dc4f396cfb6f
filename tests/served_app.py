"""A Quart-Trio app of a test's own, served by Hypercorn on 127.0.0.1:0 in the test's loop.

For tests of one part of the edge (the dashboard's routes, request ids) without the rest of
the gateway. `serving(app)` adds `/alive`, always answered, so a test can show the server
still serves after whatever it did.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import attrs
import httpx2
import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from quart_trio import QuartTrio


@attrs.frozen
class Served:
    url: str
    port: int

    async def assert_serving(self) -> None:
        async with httpx2.AsyncClient(base_url=self.url) as client:
            reply = await client.get("/alive")
        assert reply.status_code == 200 and reply.text == "alive", reply


@asynccontextmanager
async def serving(app: QuartTrio, asgi: object | None = None) -> AsyncIterator[Served]:
    """Serve `app` (or `asgi`, an ASGI layer around it) until the block ends."""

    @app.get("/alive")
    async def alive() -> str:
        return "alive"

    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        urls = await nursery.start(
            partial(serve, asgi or app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]
        )
        url = urls[0]
        yield Served(url, int(url.rpartition(":")[2]))
        stop.set()
