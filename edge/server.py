"""Runs baton in this process: the actor system and the HTTP server, in one nursery.

The edge is a Quart-Trio app served by Hypercorn's trio worker inside baton's own nursery, so
the actors and the server share one structured lifetime: the actors start first, Hypercorn
serves until the shutdown trigger returns, then stops the way `edge.stopping` describes, and
the actors stop once every connection has ended.

Hypercorn's settings carry the limits the edge keeps: a request head of at most 64 KiB
(`h11_max_incomplete_size`), keep-alive connections idle for at most `server.keepalive_timeout`, a
head whole within `server.header_timeout` of its first byte and at most
`server.max_connections` open connections per worker (both kept by `edge.connections`),
WebSocket messages of at most 64 MiB, TLS from `--certfile/--keyfile` with HTTP/2 offered by
ALPN, and HTTP/2 in the clear (h2c: prior knowledge or an upgrade) on plain sockets. The body
size limit and the body read timeout (`server.body_timeout`) are Quart's (`edge.app`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import attrs
import trio
from hypercorn.config import Sockets
from hypercorn.trio.run import worker_serve
from hypercorn.utils import wrap_app

from actors.system import ActorSystem
from config.model import Config
from edge.app import create_app
from edge.connections import EdgeConfig, ShieldReplyEnd, use_closing_tcp_server
from edge.stopping import FAREWELL, Stopping

MAX_HEAD = 64 * 1024
MAX_WEBSOCKET_MESSAGE = 64 * 1024 * 1024
BACKLOG = 4096


@attrs.frozen
class Listen:
    """Where and how to listen: host and port (0: any free port), or sockets already bound
    (workers share the parent's), and TLS files (then HTTPS, with HTTP/2 by ALPN)."""

    host: str = "127.0.0.1"
    port: int = 0
    certfile: str | None = None
    keyfile: str | None = None


def hypercorn_config(config: Config, listen: Listen) -> EdgeConfig:
    hyper = EdgeConfig()
    host = f"[{listen.host}]" if ":" in listen.host else listen.host
    hyper.bind = [f"{host}:{listen.port}"]
    hyper.certfile = listen.certfile
    hyper.keyfile = listen.keyfile
    hyper.backlog = BACKLOG
    hyper.keep_alive_timeout = config.server.keepalive_timeout
    hyper.write_timeout = config.server.write_timeout
    hyper.header_timeout = config.server.header_timeout
    hyper.max_connections = config.server.max_connections
    hyper.keep_alive_max_requests = 1_000_000
    hyper.h11_max_incomplete_size = MAX_HEAD
    hyper.h2_max_header_list_size = MAX_HEAD
    hyper.websocket_max_message_size = MAX_WEBSOCKET_MESSAGE
    hyper.graceful_timeout = config.server.shutdown_grace + FAREWELL
    hyper.include_server_header = False
    hyper.accesslog = None
    hyper.errorlog = logging.getLogger("hypercorn.error")  # into loguru (edge.logs)
    return hyper


async def serve(
    config: Config,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    certfile: str | None = None,
    keyfile: str | None = None,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    sockets: Sockets | None = None,
    data_dir: Path | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until `shutdown_trigger` returns (or forever). Reports the bound URLs on start.
    `sockets`, already bound and listening, are used instead of binding host:port (workers).
    State goes to `data_dir`; without one it is kept in memory only."""
    hyper = hypercorn_config(config, Listen(host, port, certfile, keyfile))
    async with trio.open_nursery() as actors:
        system = await ActorSystem.start(actors, config, data_dir)
        stopping = Stopping(config.server.shutdown_grace)
        app = wrap_app(
            ShieldReplyEnd(create_app(system, stopping)), hyper.wsgi_max_body_size, "asgi"
        )
        use_closing_tcp_server()
        async with trio.open_nursery() as edge:

            async def stop_when_triggered() -> None:
                await (shutdown_trigger or trio.sleep_forever)()
                edge.start_soon(stopping.run_stop)

            async def run_http(task_status: trio.TaskStatus[list[str]]) -> None:
                try:
                    await worker_serve(
                        app,
                        hyper,
                        sockets=sockets,
                        shutdown_trigger=stop_when_triggered,
                        task_status=task_status,
                    )
                finally:
                    edge.cancel_scope.cancel()  # every connection has ended

            urls = await edge.start(run_http)
            task_status.started(urls)
        actors.cancel_scope.cancel()  # the server has stopped: stop the actors
