"""Closed-loop load: N keep-alive connections, each sending its next request as soon as the
previous answer is complete.

A warm-up, then the measured window: only exchanges that complete inside the window count, so
start-up and tail effects stay out of throughput and percentiles while the connections stay busy
across the window's edges. The window opens once every connection has had an answer (for
streams: a first token) and the minimum warm-up has passed, so a slow system is measured with
its queue full. For streams, time to first token and the gaps between chunks are counted when
they fall inside the window, whether or not their stream ends inside it. CPU of the server and
upstream trees, of this client and of the whole machine is read at the two edges. Nothing is
sent after the window, and whatever is still in flight then (after an optional grace) is cut.
"""

from __future__ import annotations

import asyncio
import time

from benchmarks import procstat
from benchmarks.httpclient import ClientConnection, Exchange, build_request
from benchmarks.watch import Watch, cpu_self_ms


def _pcts(values: list[float], scale: float = 1000.0) -> dict[str, float] | None:
    if not values:
        return None
    v = sorted(values)
    n = len(v)

    def at(q: float) -> float:
        return v[min(n - 1, int(q * n))] * scale

    return {
        "p50": at(0.50),
        "p90": at(0.90),
        "p99": at(0.99),
        "max": v[-1] * scale,
        "mean": sum(v) / n * scale,
        "n": n,
    }


class ClosedLoop:
    def __init__(self, spec: dict) -> None:
        self.spec = spec
        self.request = build_request(
            spec["host"], spec["port"], spec["path"], spec["body"].encode(), spec.get("headers")
        )
        self.sse = bool(spec.get("stream"))
        self.expect_tokens = spec.get("expect_tokens")
        self.watch = Watch(spec.get("watch", {}))
        self.done: list[Exchange] = []
        self.errors: dict[str, int] = {}
        self.live: set[ClientConnection] = set()
        self.stop_at = 0.0
        self.finished = asyncio.Event()
        self.timed_out: set[ClientConnection] = set()
        self.stopping = False  # past the end: connections still busy are cut, not failed
        self.completed_total = 0
        self.first_tokens = 0

    def _error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    # connection callbacks
    def _send(self, conn: ClientConnection) -> None:
        ex = conn.send(self.request)
        if self.sse:
            ex.on_first_token = self._on_first_token

    def _on_first_token(self) -> None:
        self.first_tokens += 1

    def on_response(self, conn: ClientConnection, ex: Exchange) -> None:
        self.done.append(ex)
        self.completed_total += 1
        if not conn.closed and time.perf_counter() < self.stop_at:
            self._send(conn)
        elif not conn.closed:
            conn.transport.close()

    def on_close(self, conn: ClientConnection, ex: Exchange | None) -> None:
        if ex is not None and not self.stopping:
            ex.done = time.perf_counter()
            ex.status = -1
            self._error("timeout" if conn in self.timed_out else "reset")
            self.done.append(ex)
        elif ex is not None:
            ex.status = -2  # cut at the end of the run: its first token and gaps still count
            self.done.append(ex)
        self.live.discard(conn)
        if time.perf_counter() < self.stop_at:
            asyncio.get_running_loop().create_task(self._connect())
        elif not self.live:
            self.finished.set()

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        while time.perf_counter() < self.stop_at:
            try:
                _, conn = await loop.create_connection(
                    lambda: ClientConnection(self, self.sse), self.spec["host"], self.spec["port"]
                )
            except OSError:
                self._error("connect")
                await asyncio.sleep(0.05)
                continue
            self.live.add(conn)
            self._send(conn)
            return
        if not self.live:
            self.finished.set()

    async def _reap_timeouts(self, timeout: float) -> None:
        while True:
            await asyncio.sleep(0.25)
            now = time.perf_counter()
            for conn in list(self.live):
                ex = conn.exchange
                if ex is not None and now - ex.sent > timeout:
                    self.timed_out.add(conn)
                    conn.abort()

    async def run(self) -> dict:
        """Warm up until steady (every connection has had an answer, or a first token), measure,
        cut. The warm-up is at least `warmup` and at most `max_warmup` seconds."""
        spec = self.spec
        loop = asyncio.get_running_loop()
        level = int(spec["concurrency"])
        warmup, measure = float(spec["warmup"]), float(spec["measure"])
        max_warmup = max(warmup, float(spec.get("max_warmup", 6.0)))
        stagger = float(spec.get("stagger", 0.0))
        t0 = time.perf_counter()
        self.stop_at = t0 + max_warmup + measure  # until the window is known
        samples = {}

        def sample(key: str) -> None:  # this client's own CPU is read last at w0, first at w1
            if key == "w0":
                trees = self.watch.cpu()
                samples[key] = (
                    time.perf_counter(),
                    trees,
                    cpu_self_ms(),
                    procstat.machine_busy_ms(),
                )
            else:
                now, mine, machine = time.perf_counter(), cpu_self_ms(), procstat.machine_busy_ms()
                samples[key] = (now, self.watch.cpu(), mine, machine)

        self.watch.find()
        reaper = loop.create_task(self._reap_timeouts(float(spec.get("timeout", 30.0))))
        openers = []
        for i in range(level):  # spread over `stagger` so streams do not tick in lockstep
            ahead = t0 + stagger * i / level - time.perf_counter()
            if ahead > 0:
                await asyncio.sleep(ahead)
            openers.append(loop.create_task(self._connect()))
            if i % 32 == 31:  # a few at a time: no burst of SYN retries on a small backlog
                await asyncio.sleep(0)
        while time.perf_counter() < t0 + max_warmup:
            steady = (self.first_tokens if self.sse else self.completed_total) >= level
            if steady and time.perf_counter() >= t0 + warmup:
                break
            await asyncio.sleep(0.01)
        sample("w0")
        w0 = samples["w0"][0]
        w1 = self.stop_at = w0 + measure
        try:
            await asyncio.wait_for(self.finished.wait(), measure + float(spec.get("grace", 0.0)))
        except TimeoutError:
            pass
        if "w1" not in samples:
            sample("w1")
        if self.live:
            self.stopping = True
            for conn in list(self.live):
                conn.abort()
            await asyncio.sleep(0.05)  # let the aborted connections report what they had
        reaper.cancel()
        await asyncio.gather(*openers, return_exceptions=True)
        result = self._result(samples, w0, w1)
        result["warmup_s"] = w0 - t0
        return result

    def _result(self, samples: dict, w0: float, w1: float) -> dict:
        (s0, cpu0, me0, all0), (s1, cpu1, me1, all1) = samples["w0"], samples["w1"]
        window = [ex for ex in self.done if w0 <= ex.done < w1 and ex.status != -2]
        ok = [ex for ex in window if 200 <= ex.status < 300]
        errors: dict[str, int] = {}
        for ex in window:
            if not 200 <= ex.status < 300:
                key = str(ex.status) if ex.status > 0 else "reset/timeout"
                errors[key] = errors.get(key, 0) + 1
        if self.sse:
            good = [
                ex
                for ex in ok
                if ex.saw_done
                and ex.ttft is not None
                and (self.expect_tokens is None or ex.tokens == self.expect_tokens)
            ]
            if len(good) < len(ok):
                errors["incomplete_stream"] = len(ok) - len(good)
            ok = good
        elapsed = s1 - s0
        cpu_ms = {name: procstat.cpu_ms_between(cpu0[name], cpu1.get(name, {})) for name in cpu0}
        foreign = (all1 - all0) - sum(cpu_ms.values()) - (me1 - me0)
        out = {
            "completed": len(ok),
            "window_s": elapsed,
            "rps": len(ok) / elapsed,
            "errors": errors,
            "errors_all": self.errors,
            "completed_total": self.completed_total,
            "latency_ms": _pcts([ex.done - ex.sent for ex in ok]),
            "cpu_ms": cpu_ms,
            "client_cpu_ms": me1 - me0,
            # CPU the rest of the machine used during the window, in cores (others' work)
            "foreign_cores": max(0.0, foreign) / 1000.0 / elapsed,
        }
        if self.sse:
            # a stream is longer than the window: time to first token and the gaps between
            # chunks are taken from every stream, finished or not, when they fall in the window
            ttfts = [
                ex.ttft for ex in self.done if ex.ttft is not None and w0 <= ex.sent + ex.ttft < w1
            ]
            gaps = [g for ex in self.done for t, g in ex.gaps if w0 <= t < w1]
            out["ttft_ms"] = _pcts(ttfts)
            out["gap_ms"] = _pcts(gaps)
            out["chunks"] = len(ttfts) + len(gaps)  # token chunks delivered in the window
            out["tokens_per_stream"] = _pcts([ex.tokens for ex in ok], scale=1.0)
        return out
