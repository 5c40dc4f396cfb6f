"""Runs baton: the actor system and Hypercorn, in one nursery, in this process."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.config import Sockets
from hypercorn.trio.run import worker_serve
from hypercorn.utils import wrap_app

from actors.system import ActorSystem
from config.model import Config
from edge.app import create_app


def hypercorn_config(host: str, port: int) -> HypercornConfig:
    settings = HypercornConfig()
    settings.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    settings.accesslog = None
    settings.errorlog = logging.getLogger("hypercorn.error")
    settings.backlog = 4096
    settings.keep_alive_timeout = 75  # longer than clients' pools keep idle connections
    settings.graceful_timeout = 10
    return settings


async def serve(
    config: Config,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    sockets: Sockets | None = None,
    data_dir: Path | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until `shutdown_trigger` returns (or forever). Reports the bound URLs on start.
    `sockets`, already bound and listening, are used instead of binding host:port (workers).
    State goes to `data_dir`; without one it is kept in memory only."""
    async with trio.open_nursery() as actors:
        system = await ActorSystem.start(actors, config, data_dir)
        settings = hypercorn_config(host, port)
        app = wrap_app(create_app(system), settings.wsgi_max_body_size, "asgi")
        async with trio.open_nursery() as http:
            binds = await http.start(
                partial(
                    worker_serve,
                    app,
                    settings,
                    sockets=sockets,
                    shutdown_trigger=shutdown_trigger or trio.sleep_forever,
                )
            )
            task_status.started(binds)
        actors.cancel_scope.cancel()  # hypercorn has drained its connections: stop the actors
