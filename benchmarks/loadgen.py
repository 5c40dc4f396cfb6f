"""The load driver, run as its own process so that its CPU is its own.

    python -m benchmarks.loadgen < spec.json          # one spec in, one JSON result out
    python -m benchmarks.loadgen --serve              # one spec per line until end of input

`"mode": "closed"` runs `closedloop.ClosedLoop` (throughput, latency, streams), `"mode": "idle"`
runs `idle.IdleStreams`. The runner keeps one `--serve` process for a whole session. The
cyclic garbage collector is off while a spec runs: a collection mid-window would show up as
client-side latency.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys

from benchmarks.closedloop import ClosedLoop
from benchmarks.idle import IdleStreams


async def _main(spec: dict) -> dict:
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        runner = ClosedLoop(spec) if spec["mode"] == "closed" else IdleStreams(spec)
        return await runner.run()
    finally:
        gc.enable()
        gc.unfreeze()


def run_one(spec: dict) -> dict:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(_main(spec))
    return uvloop.run(_main(spec))


def main() -> None:
    """One spec on stdin, one result on stdout; with --serve, one per line until EOF."""
    if "--serve" in sys.argv[1:]:
        for line in sys.stdin:
            if line.strip():
                sys.stdout.write(json.dumps(run_one(json.loads(line))) + "\n")
                sys.stdout.flush()
        return
    sys.stdout.write(json.dumps(run_one(json.load(sys.stdin))) + "\n")


if __name__ == "__main__":
    main()
