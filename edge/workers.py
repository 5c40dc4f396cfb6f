"""`baton serve --workers N`: N processes serving one port, the Hypercorn way.

The parent binds the listening sockets once (`hypercorn.config.Config.create_sockets`) and
starts N spawned children that are handed them, as Hypercorn's own multi-worker mode does;
each child runs baton's server (`edge.server.serve`) on those sockets and the kernel spreads
connections over the processes.
Each worker runs its own actor system, so without a shared store each holds its own cooldowns
and key leases, and an equal share of every configured rate limit (`Config.shared_by`).
SIGINT/SIGTERM to the parent ask every worker to finish its open calls.
"""

from __future__ import annotations

import argparse
import multiprocessing
import signal
from functools import partial
from multiprocessing.connection import wait
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import trio
from hypercorn.config import Sockets
from loguru import logger

import config as baton_config
from edge import logs
from edge.memory import return_large_blocks
from edge.request_log import recording
from edge.server import BACKLOG, Listen, hypercorn_config, serve


def run_workers(args: argparse.Namespace, data_dir: Path, config: baton_config.Config) -> int:
    listen = Listen(args.host, args.port, args.certfile, args.keyfile)
    sockets = hypercorn_config(config, listen).create_sockets()
    for sock in (*sockets.secure_sockets, *sockets.insecure_sockets):
        sock.listen(BACKLOG)
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # children inherit this; the parent decides
    workers = [
        context.Process(
            target=_worker,
            name=f"baton-worker-{index}",
            args=(
                args.config,
                _log_options(args),
                sockets,
                stop,
                data_dir,
                args.log_requests,
                args.workers,
                listen,
            ),
        )
        for index in range(args.workers)
    ]
    for worker in workers:
        worker.start()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    scheme = "https" if sockets.secure_sockets else "http"
    bound = (*sockets.secure_sockets, *sockets.insecure_sockets)[0].getsockname()
    logger.info(
        "baton is serving on {}://{}:{}/v1 with {} workers",
        scheme,
        bound[0],
        bound[1],
        args.workers,
    )
    wait([worker.sentinel for worker in workers])  # returns when the first worker ends
    stop.set()
    for worker in workers:
        worker.join(timeout=30)
        if worker.is_alive():
            worker.terminate()
    for sock in (*sockets.secure_sockets, *sockets.insecure_sockets):
        sock.close()
    return max((worker.exitcode or 0 for worker in workers), default=0)


def _log_options(args: argparse.Namespace) -> logs.LogOptions:
    return logs.LogOptions(level=args.log_level, json=getattr(args, "log_json", False))


def _worker(
    config_path: Path | None,
    log_options: logs.LogOptions,
    sockets: Sockets,
    stop: Event,
    data_dir: Path,
    request_dir: Path | None,
    workers: int,
    listen: Listen,
) -> None:
    logs.configure_with(log_options)
    return_large_blocks()  # a spawned process starts with glibc's defaults again
    loaded = baton_config.load(config_path)
    logs.register_secrets(logs.config_secrets(loaded.config))  # before any actor can log
    trio.run(
        partial(
            _serve_recorded,
            loaded.config.shared_by(workers),
            sockets=sockets,
            certfile=listen.certfile,
            keyfile=listen.keyfile,
            data_dir=data_dir,
            shutdown_trigger=partial(_wait_for, stop),
            request_dir=request_dir,
        )
    )


async def _serve_recorded(
    config: baton_config.Config, *, request_dir: Path | None, **options: Any
) -> None:
    async with recording(request_dir):
        await serve(config, **options)


async def _wait_for(stop: Event) -> None:
    while not stop.is_set():
        await trio.sleep(0.1)
