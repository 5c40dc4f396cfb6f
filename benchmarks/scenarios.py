"""What is measured: the scenarios, their levels, and the load-driver spec of one cell.

A *cell* is one (scenario, level, system, round): one spec run by the load-driver process
(`benchmarks.loadgen --serve`), bounded in time by the spec and again by the `Driver`, which
kills and replaces the driver when a result is late.
"""

from __future__ import annotations

import itertools
import json
import resource
import select
import subprocess
import sys
import time

import attrs

from benchmarks.systems import DEFAULT, REPO, System, Upstream

STREAM_CHUNKS, STREAM_DELAY_MS = 50, 20


SCENARIOS = ("nonstream", "stream", "failover-hop", "failover", "idle")


@attrs.frozen
class Part:
    """Some levels of one scenario, measured `rounds` times each by `systems` (None: all)."""

    scenario: str
    levels: tuple[int, ...]
    rounds: int
    systems: tuple[str, ...] | None = None

    def participants(self, selected: list[System], explicit: bool) -> list[System]:
        """`explicit`: the user named the systems, so every part uses all of them."""
        chosen = [x for x in selected if explicit or self.systems is None or x.name in self.systems]
        return [x for x in chosen if x.is_server or self.scenario != "idle"]


@attrs.frozen
class Settings:
    systems: tuple[str, ...]  # selected when --systems is not given
    parts: tuple[Part, ...]
    warmup: float  # seconds of load before each measured window, at least ...
    max_warmup: float  # ... and at most, until every connection has had an answer
    measure: float  # measured window, non-streaming
    stream_measure: float  # measured window, streaming (2.5 times longer at one stream)
    idle_open_rate: float
    idle_seconds_per_stream: float  # opening N idle streams may take N times this (10-100 s)
    idle_hold: float
    startup_samples: int
    settle: float  # after start-up, before idle memory is read
    quiet_per_cell: float  # wait up to this for an idle machine before a cell ...
    quiet_budget: float  # ... and up to this in the whole run
    max_foreign_cores: float  # a cell during which others used more is measured again ...
    retries: int  # ... at most this many times (the quietest attempt is kept) ...
    retry_budget: float  # ... spending at most this many seconds on it in the whole run


_ONE_WORKER = ("direct", "floor", "baton", "baton-w2", "litellm", "portkey")
_STREAMERS = ("direct", "floor", "baton", "baton-w2", "litellm", "portkey")
_FAILOVERS = ("direct", "floor", "baton", "litellm", "portkey")

FULL = Settings(
    systems=DEFAULT,
    parts=(
        # three rounds where the targets are judged, two elsewhere; the peers' second workers
        # only where the targets compare them
        Part("nonstream", (1,), 3, _ONE_WORKER),
        Part("nonstream", (16,), 2, _ONE_WORKER),
        Part("nonstream", (64,), 3),
        Part("nonstream", (256,), 2, _ONE_WORKER),
        Part("stream", (1,), 3, _STREAMERS),
        Part("stream", (16,), 2, _STREAMERS),
        Part("stream", (64,), 3, _STREAMERS),
        Part("failover-hop", (1,), 3, _FAILOVERS),
        Part("failover", (16,), 2, _FAILOVERS),
        Part("idle", (500,), 1, ("litellm",)),  # it needs ~25 ms of CPU to set up a stream
        Part("idle", (2000,), 1, ("baton-w2", "portkey")),
        Part("idle", (10000,), 1, ("baton-w2",)),
    ),
    warmup=0.3,
    max_warmup=4.0,
    measure=1.0,
    stream_measure=1.0,
    idle_open_rate=2000,
    idle_seconds_per_stream=0.010,
    idle_hold=2.0,
    startup_samples=3,
    settle=0.5,
    quiet_per_cell=6.0,
    quiet_budget=30.0,
    max_foreign_cores=0.35,
    retries=2,
    retry_budget=30.0,
)
QUICK = Settings(
    systems=("direct", "floor", "floor-w2", "baton", "baton-w2", "litellm", "portkey"),
    parts=(
        Part("nonstream", (1,), 2, ("direct", "floor", "baton", "litellm", "portkey")),
        Part("nonstream", (64,), 2),
        Part("stream", (1, 64), 1, ("direct", "floor", "baton", "litellm", "portkey")),
        Part("failover-hop", (1,), 1, ("direct", "floor", "baton", "litellm", "portkey")),
        Part("idle", (500,), 1, ("baton", "portkey")),
    ),
    warmup=0.4,
    max_warmup=4.0,
    measure=0.8,
    stream_measure=1.0,
    idle_open_rate=2000,
    idle_seconds_per_stream=0.012,
    idle_hold=1.0,
    startup_samples=1,
    settle=0.5,
    quiet_per_cell=2.0,
    quiet_budget=4.0,
    max_foreign_cores=0.35,
    retries=1,
    retry_budget=8.0,
)


_CELL_IDS = itertools.count(int(time.time()) % 100000)
FAILOVER_KIND = {"failover": "cooldown", "failover-hop": "hop"}


def fd_cap(system: System) -> int | None:
    """Streams one process can proxy: each holds a client and an upstream socket."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if system.workers > 1 or hard == resource.RLIM_INFINITY:
        return None
    return (hard - 400) // 2


def cell_spec(
    scenario: str,
    level: int,
    system: System,
    up: Upstream,
    root: int | None,
    s: Settings,
) -> tuple[dict, float]:
    """The loadgen spec of one cell and the wall-clock bound for its process."""
    watch = {"upstream": up.pid, **({"server": root} if root else {})}
    if scenario == "idle":
        n = min(level, fd_cap(system) or level)
        # at most 100 s: every stream is closed before the 120 s idle timeouts of the configs
        open_seconds = min(100.0, max(10.0, n * s.idle_seconds_per_stream))
        # two chunks at once, then nothing until long after the cell is over
        quiet_ms = int((open_seconds + s.idle_hold + 30) * 1000)
        # a model name of its own, so the upstream can tell this cell's streams from others'
        model = f"bench-c3-d{quiet_ms}-f2-t{next(_CELL_IDS)}"
        req = system.request(up, model, stream=True)
        spec = {
            "mode": "idle",
            "streams": n,
            "open_rate": s.idle_open_rate,
            "open_seconds": open_seconds,
            "hold": s.idle_hold,
            "max_pending": 100,
            "upstream_port": up.ok,
            "upstream_model": model,
        }
        bound = open_seconds + s.idle_hold + 45
    else:
        stream = scenario == "stream"
        req = system.request(
            up,
            f"bench-c{STREAM_CHUNKS}-d{STREAM_DELAY_MS}" if stream else "bench-model",
            stream=stream,
            failover=FAILOVER_KIND.get(scenario),
        )
        warmup, measure, stagger = s.warmup, s.measure, 0.0
        if stream:
            duration = STREAM_CHUNKS * STREAM_DELAY_MS / 1000
            # streams start spread over one stream's length, as real ones do, not in lockstep
            stagger = duration if level > 1 else 0.0
            warmup = max(warmup, stagger + 0.2)
            # one stream a second at level 1: a longer window for more first tokens
            measure = s.stream_measure * (2.5 if level == 1 else 1)
        spec = {
            "mode": "closed",
            "concurrency": level,
            "warmup": warmup,
            "max_warmup": s.max_warmup,
            "stagger": stagger,
            "measure": measure,
            # what is still running at the end of the window is cut (it would not count);
            # the session waits for the system to drain before the next cell
            "grace": 0.0,
            "timeout": 30.0,
            "stream": stream,
            "expect_tokens": STREAM_CHUNKS if stream else None,
        }
        bound = s.max_warmup + measure + 15
    spec.update(
        {
            "host": "127.0.0.1",
            "port": req.port,
            "path": req.path,
            "headers": req.headers,
            "body": req.body,
            "watch": watch,
        }
    )
    return spec, bound


class Driver:
    """One long-lived load-driver process fed one spec per line (no start-up cost per cell)."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None

    def run(self, spec: dict, bound: float) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.loadgen", "--serve"],
                cwd=REPO,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                bufsize=1,
            )
        self.proc.stdin.write(json.dumps(spec) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], bound)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.close()
            return {"failed": f"load driver gave no result within {bound:.0f} s"}
        return json.loads(line)

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()  # our own child, by its handle
            self.proc.wait()
            self.proc = None
