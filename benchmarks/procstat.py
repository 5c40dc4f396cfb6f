"""What a process tree costs, read from /proc: CPU ticks, RSS, PSS, open sockets.

A system under test may be several processes (`--workers 2` forks or spawns workers; Node may
not), so every reading is taken over the whole tree below the pid the runner started. CPU is
utime + stime of each live process; a worker that exits between two readings loses its ticks,
which is why readings are taken while the system is known to be up.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode()
    except OSError:
        return None
    # comm may contain spaces and parentheses: split after the last ')'
    return raw[raw.rfind(")") + 2 :].split()


def tree(root: int) -> list[int]:
    """`root` and all its live descendants."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        fields = _stat_fields(int(name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if os.path.exists(f"/proc/{pid}"):
            out.append(pid)
            todo.extend(children.get(pid, ()))
    return out


def cpu_ticks(pids: Iterable[int]) -> dict[int, int]:
    """utime + stime per pid, in clock ticks."""
    out = {}
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            out[pid] = int(fields[11]) + int(fields[12])
    return out


def cpu_ms_between(before: dict[int, int], after: dict[int, int]) -> float:
    """CPU milliseconds spent between two `cpu_ticks` readings (new pids count in full)."""
    ticks = sum(t - before.get(pid, 0) for pid, t in after.items())
    return ticks * 1000.0 / CLK_TCK


def machine_busy_ms() -> float:
    """CPU time spent by the whole machine (every core, every process) since boot."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    busy = sum(fields[:8]) - idle  # user nice system idle iowait irq softirq steal
    return busy * 1000.0 / CLK_TCK


def rss_bytes(pids: Iterable[int]) -> int:
    """Sum of resident set sizes (pages shared between forked workers are counted per worker)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm", "rb") as f:
                total += int(f.read().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            pass
    return total


def pss_bytes(pids: Iterable[int]) -> int:
    """Sum of proportional set sizes: shared pages divided among the processes sharing them."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
                for line in f:
                    if line.startswith(b"Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except (OSError, ValueError):
            pass
    return total


def open_fds(pids: Iterable[int]) -> int:
    total = 0
    for pid in pids:
        try:
            total += len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            pass
    return total


def _loopback(hex_addr: str) -> bool:
    if len(hex_addr) == 8:  # IPv4, little-endian words
        return hex_addr.endswith("7F") or hex_addr == "00000000"
    # IPv6: ::1, ::, or an IPv4-mapped loopback (::ffff:127.x.y.z)
    return hex_addr in ("00000000000000000000000001000000", "0" * 32) or (
        hex_addr.startswith("0000000000000000FFFF0000") and hex_addr.endswith("7F")
    )


def remote_peers(pids: Iterable[int]) -> list[str]:
    """Non-loopback TCP/UDP peers of sockets owned by `pids`: should always be empty."""
    inodes = set()
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    found = []
    for table in ("tcp", "tcp6", "udp", "udp6"):
        try:
            with open(f"/proc/net/{table}") as f:
                next(f)
                for line in f:
                    parts = line.split()
                    remote, inode = parts[2], parts[9]
                    addr = remote.split(":")[0]
                    if inode in inodes and not _loopback(addr):
                        found.append(f"{table} {remote}")
        except OSError:
            continue
    return found
