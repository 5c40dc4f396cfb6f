"""A throwaway `redis-server` for tests: a free 127.0.0.1 port, a temporary directory, no
persistence (`--save "" --appendonly no`), stopped by its pid.

    async with redis_server() as server:      # pytest.skip()s if redis-server is missing
        state = RedisState.from_url(server.url, cluster="t")
        await server.stop()      # SIGKILL, as a crash would: Redis is gone
        await server.start()     # again, same port, empty
        server.pause() / server.resume()   # SIGSTOP / SIGCONT: Redis is there but silent
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
import pytest
import trio

REDIS_SERVER = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/sbin")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@attrs.define
class RedisServer:
    port: int
    directory: Path
    process: trio.Process | None = None

    host = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    async def start(self) -> None:
        """Start (or restart) the server on this port, and wait until it answers PING."""
        assert REDIS_SERVER is not None and self.process is None
        self.process = await trio.lowlevel.open_process(
            [
                REDIS_SERVER,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", str(self.directory),
                "--save", "",
                "--appendonly", "no",
                "--loglevel", "warning",
            ],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        with trio.fail_after(10):
            while not await self._pong():
                await trio.sleep(0.02)

    async def _pong(self) -> bool:
        try:
            stream = await trio.open_tcp_stream("127.0.0.1", self.port)
        except OSError:
            return False
        async with stream:
            await stream.send_all(b"PING\r\n")
            return (await stream.receive_some(64)).startswith(b"+PONG")

    async def stop(self) -> None:
        """Kill the server by its pid (SIGKILL: no goodbye to clients) and reap it."""
        if self.process is None:
            return
        process, self.process = self.process, None
        if process.returncode is None:
            os.kill(process.pid, signal.SIGCONT)  # a paused server dies all the same
            os.kill(process.pid, signal.SIGKILL)
        with trio.CancelScope(shield=True):
            await process.wait()

    def pause(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)


@asynccontextmanager
async def redis_server() -> AsyncIterator[RedisServer]:
    """A running server for the block; skips the test if redis-server is not installed."""
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server)")
    with tempfile.TemporaryDirectory(prefix="baton-redis-") as directory:
        server = RedisServer(free_port(), Path(directory))
        await server.start()
        try:
            yield server
        finally:
            await server.stop()
