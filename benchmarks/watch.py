"""What the load driver reads while it runs: CPU and memory of process trees, the upstream's
counters. Readings are taken at the edges of a measured window, never in between."""

from __future__ import annotations

import asyncio
import json
import resource

from benchmarks import procstat


def cpu_self_ms() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return (ru.ru_utime + ru.ru_stime) * 1000.0


class Watch:
    """CPU and memory of the watched process trees (`{"server": pid, "upstream": pid}`)."""

    def __init__(self, roots: dict[str, int]) -> None:
        self.roots = roots
        self.pids: dict[str, list[int]] = {}

    def find(self) -> None:
        """Walk /proc for the trees (tens of milliseconds): before a window, not at its end."""
        self.pids = {name: procstat.tree(pid) for name, pid in self.roots.items()}

    def cpu(self) -> dict[str, dict[int, int]]:
        """CPU ticks of the processes found by the last `find` (a few stat files: cheap)."""
        return {name: procstat.cpu_ticks(pids) for name, pids in self.pids.items()}

    def memory(self, name: str) -> dict[str, int]:
        pids = procstat.tree(self.roots[name]) if name in self.roots else []
        return {
            "rss": procstat.rss_bytes(pids),
            "pss": procstat.pss_bytes(pids),
            "fds": procstat.open_fds(pids),
            "processes": len(pids),
        }


async def upstream_stats(port: int) -> dict:
    """The fake upstream's counters (GET /_stats on its serving listener)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /_stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    raw = await reader.read()
    writer.close()
    return json.loads(raw.split(b"\r\n\r\n", 1)[1])
