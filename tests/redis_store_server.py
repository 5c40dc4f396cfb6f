"""A real `redis-server` for tests: on a free 127.0.0.1 port, in a temporary directory, with
persistence off (`--save "" --appendonly no`), stopped by its pid.

    async with redis_store_server() as server:
        client = coredis.Redis(host=server.host, port=server.port)
        await server.stop()   # Redis goes down (SIGTERM to the pid, then waited for)
        await server.start()  # and comes back on the same port, empty

The port is found by binding port 0 and closing the socket before the server binds it: another
process could take it in between, which on a test machine does not happen in practice (the
start fails loudly if it does). Readiness is a `PING` answered with `+PONG`, polled with a
deadline, so a server that cannot start fails the test instead of hanging it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import trio

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
START_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _pings(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@attrs.define
class RedisStoreServer:
    """One redis-server process, which may be stopped and started again on the same port."""

    directory: Path
    host: str = "127.0.0.1"
    port: int = attrs.field(factory=free_port)
    process: subprocess.Popen[bytes] | None = attrs.field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    async def start(self) -> None:
        if self.process is not None:
            raise RuntimeError("redis-server is already running")
        arguments = [
            REDIS_SERVER,
            "--port", str(self.port),
            "--bind", self.host,
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--logfile", str(self.directory / "redis.log"),
        ]  # fmt: skip
        self.process = subprocess.Popen(arguments, stdin=subprocess.DEVNULL)
        with trio.fail_after(START_TIMEOUT):
            while not await trio.to_thread.run_sync(_pings, self.host, self.port):
                if self.process.poll() is not None:
                    log = (self.directory / "redis.log").read_text(errors="replace")
                    self.process = None
                    raise RuntimeError(f"redis-server exited at start:\n{log}")
                await trio.sleep(0.02)

    async def stop(self) -> None:
        """SIGTERM to the pid, then wait (SIGKILL after a few seconds) until it is gone."""
        process, self.process = self.process, None
        if process is None:
            return
        os.kill(process.pid, signal.SIGTERM)
        with trio.move_on_after(5):
            while process.poll() is None:
                await trio.sleep(0.02)
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            await trio.to_thread.run_sync(process.wait)


@asynccontextmanager
async def redis_store_server() -> AsyncIterator[RedisStoreServer]:
    """A started redis-server in a temporary directory; stopped and removed on the way out."""
    with tempfile.TemporaryDirectory(prefix="baton-redis-") as directory:
        server = RedisStoreServer(Path(directory))
        await server.start()
        try:
            yield server
        finally:
            with trio.CancelScope(shield=True):
                await server.stop()
