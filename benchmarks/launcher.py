"""Starting and stopping the processes of a run: the fake upstream and each system under test.

Every child is started in its own session, with a parent-death signal so that it cannot outlive
the runner, and is stopped by pid: SIGTERM to the process the runner started, then SIGKILL to
whatever is left of its own tree. Start-up time is the time from spawning to the first successful
chat completion through the system, polled every 20 ms.
"""

from __future__ import annotations

import ctypes
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import procstat
from benchmarks.systems import REPO, Request, System, Upstream, offline_env

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def spawn(
    argv: list[str], env: dict[str, str], cwd: Path, log: Path, stdout=None
) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=stdout or out,
            stderr=out,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )


def stop(proc: subprocess.Popen, timeout: float = 8.0) -> None:
    if proc.poll() is not None:
        return
    pids = procstat.tree(proc.pid)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        pass
    for pid in pids:  # the whole tree this runner started, pid by pid
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        proc.wait(2.0)
    except subprocess.TimeoutExpired:
        pass


def start_upstream(work: Path, max_seconds: float) -> tuple[subprocess.Popen, Upstream]:
    argv = [
        sys.executable,
        "-m",
        "benchmarks.upstream",
        "--listen",
        "ok:200",
        "--listen",
        "r429:429",
        "--listen",
        "r429z:429:0",
        "--max-seconds",
        str(int(max_seconds)),
    ]
    proc = spawn(argv, offline_env(), REPO, work / "upstream.log", stdout=subprocess.PIPE)
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"fake upstream did not start; see {work / 'upstream.log'}")
    info = json.loads(line)
    ports = info["ports"]
    return proc, Upstream(pid=proc.pid, ok=ports["ok"], r429=ports["r429"], r429z=ports["r429z"])


def upstream_stats(up: Upstream) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", up.ok, timeout=5)
    try:
        conn.request("GET", "/_stats")
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def call(req: Request, timeout: float = 2.0) -> int:
    """One request through a system; its status, or 0 when nothing answered."""
    conn = http.client.HTTPConnection("127.0.0.1", req.port, timeout=timeout)
    try:
        conn.request(
            "POST",
            req.path,
            body=req.body,
            headers={"Content-Type": "application/json", **req.headers},
        )
        resp = conn.getresponse()
        resp.read()
        return resp.status
    except (OSError, http.client.HTTPException):
        return 0
    finally:
        conn.close()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Running:
    """A started system: its process, how long it took to answer, what it costs."""

    def __init__(self, system: System, proc: subprocess.Popen | None, startup_s: float) -> None:
        self.system = system
        self.proc = proc
        self.startup_s = startup_s

    @property
    def root(self) -> int | None:
        return self.proc.pid if self.proc else None

    def pids(self) -> list[int]:
        return procstat.tree(self.proc.pid) if self.proc else []

    def memory(self) -> dict[str, int]:
        pids = self.pids()
        return {
            "rss": procstat.rss_bytes(pids),
            "pss": procstat.pss_bytes(pids),
            "processes": len(pids),
            # the largest process of the tree: one worker, with every page it maps counted
            "rss_largest": max((procstat.rss_bytes([pid]) for pid in pids), default=0),
        }

    def alive(self) -> bool:
        return self.proc is None or self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)


def launch(
    system: System,
    up: Upstream,
    work: Path,
    timeout: float = 90.0,
    env: dict[str, str] | None = None,
    log_name: str | None = None,
) -> Running:
    """Start `system` and wait for its first good answer; raise with the log tail if none."""
    if not system.is_server:
        return Running(system, None, 0.0)
    system.port = free_port()
    spec = system.launch(up, work)
    log = work / (log_name or f"{system.name}.log")
    probe = system.request(up, "bench-model")
    t0 = time.perf_counter()
    proc = spawn(spec.argv, {**spec.env, **(env or {})}, spec.cwd, log)
    deadline = t0 + timeout
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            break
        if call(probe, timeout=1.0) == 200:
            return Running(system, proc, time.perf_counter() - t0)
        time.sleep(0.02)
    stop(proc)
    tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
    raise RuntimeError(f"{system.name} did not answer within {timeout:.0f} s:\n{tail}")


def wait_quiet(max_s: float, cores: float = 0.15) -> float:
    """Wait (at most `max_s`) until the whole machine uses under `cores` over 200 ms: the
    previous system has drained and nobody else sharing the machine is busy. Time waited."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < max_s:
        before = procstat.machine_busy_ms()
        time.sleep(0.2)
        if procstat.machine_busy_ms() - before <= cores * 200:
            break
    return time.perf_counter() - t0


def wait_idle_machine(max_s: float, quiet_for: float, cores: float = 0.2) -> float:
    """Wait (at most `max_s`) until the machine has used under `cores` for `quiet_for` seconds
    in a row: a moment when nobody else sharing it is busy. Time waited."""
    t0 = time.perf_counter()
    calm_since = t0
    while time.perf_counter() - t0 < max_s:
        before = procstat.machine_busy_ms()
        time.sleep(0.5)
        if procstat.machine_busy_ms() - before > cores * 500:
            calm_since = time.perf_counter()
        elif time.perf_counter() - calm_since >= quiet_for:
            break
    return time.perf_counter() - t0
