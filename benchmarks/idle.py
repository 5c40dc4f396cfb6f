"""Many streams held open at once: memory per stream, whether any is dropped, and whether the
system lets go of its upstream streams when its clients leave."""

from __future__ import annotations

import asyncio
import time

from benchmarks.httpclient import ClientConnection, Exchange, build_request
from benchmarks.watch import Watch, cpu_self_ms, upstream_stats


class IdleStreams:
    """Many streams held open at once: memory per stream, and whether any is dropped.

    Each stream gets its first chunks at once and then nothing for longer than the cell lasts.
    Streams are opened at most `open_rate` a second with at most `max_pending` still waiting for
    their first token, so a slow system is paced rather than flooded. Once every stream has
    delivered its first token (or `open_seconds` has passed), memory is read, held for `hold`
    seconds, read again; then the client closes every stream and reads memory once more. A
    stream is dropped when it never delivered a first token, or ended before the client closed it.
    """

    def __init__(self, spec: dict) -> None:
        self.spec = spec
        self.request = build_request(
            spec["host"], spec["port"], spec["path"], spec["body"].encode(), spec.get("headers")
        )
        self.watch = Watch(spec.get("watch", {}))
        self.n = int(spec["streams"])
        self.target = self.n  # streams that were started (fewer if opening ran out of time)
        self.first = 0
        self.early: dict[str, int] = {}  # why streams failed or ended before the client closed
        self.settled = 0  # streams with a first token or a failure
        self.all_settled = asyncio.Event()
        self.pending = asyncio.Semaphore(int(spec.get("max_pending", 100)))
        self.conns: set[ClientConnection] = set()
        self.closing = False

    def _settle(self) -> None:
        self.settled += 1
        if self.settled >= self.target:
            self.all_settled.set()

    def _fail(self, why: str, had_first: bool) -> None:
        self.early[why] = self.early.get(why, 0) + 1
        if not had_first:
            self.pending.release()
            self._settle()

    async def _upstream_active(self) -> int:
        """This cell's streams the upstream is still sending (its model name is unique)."""
        stats = await upstream_stats(self.spec["upstream_port"])
        return stats["active_by_model"].get(self.spec["upstream_model"], 0)

    def _on_first_token(self) -> None:
        self.first += 1
        self.pending.release()
        self._settle()

    def on_response(self, conn: ClientConnection, ex: Exchange) -> None:
        why = f"status {ex.status}" if ex.status != 200 else "ended early"
        self._fail(why, ex.ttft is not None)
        if conn.transport is not None:
            conn.transport.close()

    def on_close(self, conn: ClientConnection, ex: Exchange | None) -> None:
        self.conns.discard(conn)
        if ex is not None and not self.closing:
            self._fail("reset", ex.ttft is not None)

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(
                lambda: ClientConnection(self, True), self.spec["host"], self.spec["port"]
            )
        except OSError as exc:
            self._fail(f"connect errno {exc.errno}", False)
            return
        self.conns.add(conn)
        conn.send(self.request).on_first_token = self._on_first_token

    async def run(self) -> dict:
        spec = self.spec
        loop = asyncio.get_running_loop()
        rate = float(spec.get("open_rate", 1000.0))
        before = self.watch.memory("server")
        cpu_start = cpu_self_ms()
        t0 = time.perf_counter()
        open_by = t0 + float(spec["open_seconds"])
        tasks = []
        for i in range(self.n):
            try:
                await asyncio.wait_for(self.pending.acquire(), open_by - time.perf_counter())
            except (TimeoutError, ValueError):
                self.target = i
                break
            tasks.append(loop.create_task(self._open()))
            ahead = t0 + (i + 1) / rate - time.perf_counter()
            if ahead > 0:
                await asyncio.sleep(ahead)
        if self.settled >= self.target:
            self.all_settled.set()
        try:
            await asyncio.wait_for(
                self.all_settled.wait(), max(0.05, open_by - time.perf_counter())
            )
        except TimeoutError:
            pass
        all_open_s = time.perf_counter() - t0
        open_now = len(self.conns)
        at_open = self.watch.memory("server")
        upstream = self.watch.memory("upstream")
        await asyncio.sleep(float(spec.get("hold", 2.0)))
        held = self.watch.memory("server")
        alive = [c for c in self.conns if c.exchange is not None and c.exchange.ttft is not None]
        self.closing = True
        for conn in list(self.conns):
            conn.abort()
        closed_at = time.perf_counter()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(2.0)
        after = self.watch.memory("server")
        lingering = cleared_s = None
        if spec.get("upstream_port"):  # how long until the system let go of its upstream streams
            lingering = left = await self._upstream_active()
            while left and time.perf_counter() - closed_at < float(spec.get("linger_max", 10.0)):
                await asyncio.sleep(0.5)
                left = await self._upstream_active()
            cleared_s = time.perf_counter() - closed_at if not left else None
        not_started = self.n - self.target
        return {
            "streams": self.n,
            "started": self.target,
            "first_token": self.first,
            "open_at_hold": open_now,
            "held": len(alive),
            "dropped": self.n - len(alive),
            "why_dropped": {
                **self.early,
                **({"not started in time": not_started} if not_started else {}),
                **(
                    {"no first token in time": max(0, self.target - self.settled)}
                    if self.target > self.settled
                    else {}
                ),
            },
            "all_first_token_s": all_open_s,
            "memory_before": before,
            "memory_all_open": at_open,
            "memory_held": held,
            "memory_after_close": after,
            "upstream_memory_all_open": upstream,
            "upstream_streams_after_close": lingering,  # 2 s after the clients left
            "upstream_streams_cleared_s": cleared_s,  # None: some still open after linger_max
            "client_cpu_ms": cpu_self_ms() - cpu_start,
        }
