"""Runs baton: the actor system and Hypercorn, in one nursery, in this process."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve

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
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until `shutdown_trigger` returns (or forever). Reports the bound URLs on start."""
    async with trio.open_nursery() as actors:
        system = await ActorSystem.start(actors, config)
        app = create_app(system)
        async with trio.open_nursery() as http:
            binds = await http.start(
                partial(
                    hypercorn_serve,
                    app,
                    hypercorn_config(host, port),
                    shutdown_trigger=shutdown_trigger or trio.sleep_forever,
                )
            )
            task_status.started(binds)
        actors.cancel_scope.cancel()  # hypercorn has drained its connections: stop the actors
