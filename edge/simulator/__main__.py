"""Run one simulator by hand: `python -m edge.simulator --port 8001 --model m1 --model m2`.

It answers every chat request with a short completion (streamed when asked), which is enough
to point curl or an OpenAI client at it.
"""

from __future__ import annotations

import argparse
import functools

import trio

from edge.simulator import Complete, Simulator, always


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m edge.simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--model", action="append", dest="models", metavar="NAME")
    parser.add_argument("--text", default="Hello from sim")
    parser.add_argument("--chunk-delay", type=float, default=0.05)
    args = parser.parse_args(argv)
    sim = Simulator(
        always(Complete(args.text, chunk_delay=args.chunk_delay)),
        models=tuple(args.models or ("sim-model",)),
    )

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            port = await nursery.start(functools.partial(sim.serve, host=args.host, port=args.port))
            print(f"simulator listening on http://{args.host}:{port}/v1 (Ctrl-C to stop)")

    try:
        trio.run(run)
    except* KeyboardInterrupt:  # may arrive wrapped in the nursery's exception group
        pass


if __name__ == "__main__":
    main()
