"""The stack's own floor: a bare Quart-Trio app on Hypercorn's Trio worker, forwarding with httpx2.

baton's edge is a `QuartTrio` app served by `hypercorn.trio.serve`, and its provider actors call
upstreams with `httpx2.AsyncClient`. This app does the same job on the same stack and nothing
else: one route, `POST /v1/chat/completions`, whose body goes unread and unparsed to the fake
upstream through one client, and whose answer comes back as it arrived (JSON with its length,
SSE chunk by chunk). No auth, validation, routing, accounting or logging. Whatever baton costs
beyond this is baton's own; what this costs is the stack's.

    python -m benchmarks.peers.floor --port P --upstream http://127.0.0.1:U/v1 \
        [--failover '{"bench-failover": "http://127.0.0.1:F/v1"}'] [--workers 2]

One worker: `trio.run(hypercorn.trio.serve, app, config)` in this process, stopped by SIGTERM
or SIGINT through serve's shutdown trigger. N workers: Hypercorn's own multi-process mode
(`hypercorn.run.run` with `config.workers = N`): the parent binds the listening socket once and
starts N spawned processes that inherit it, each running the same Trio worker, and the kernel
spreads connections over them, as `baton serve --workers N` does.

A request for a model named in `--failover` first goes to that URL and, on 429 or 5xx, to the
upstream with the model rewritten to `bench-model`: the simplest failover there is, with no
memory of past failures, so the failover scenarios have a floor too. Only those requests are
parsed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
from collections.abc import AsyncIterator

import httpx2
from quart import Response, request
from quart_trio import QuartTrio

_UPSTREAM = "BENCH_FLOOR_UPSTREAM"
_FAILOVER = "BENCH_FLOOR_FAILOVER"
_PASS = ("content-type", "authorization")
SECOND_MODEL = "bench-model"


def create_app(upstream: str, failover: dict[str, str]) -> QuartTrio:
    app = QuartTrio(__name__)
    # a stream lives as long as the upstream sends; the body is whatever the client sends
    app.config.update(RESPONSE_TIMEOUT=None, BODY_TIMEOUT=None)
    target = upstream.rstrip("/") + "/chat/completions"
    chains = {
        b'"' + model.encode() + b'"': url.rstrip("/") + "/chat/completions"
        for model, url in failover.items()
    }
    client: httpx2.AsyncClient | None = None

    @app.before_serving
    async def open_client() -> None:
        nonlocal client
        client = httpx2.AsyncClient(
            limits=httpx2.Limits(max_connections=None, max_keepalive_connections=1024),
            timeout=httpx2.Timeout(600.0),
        )

    @app.after_serving
    async def close_client() -> None:
        if client is not None:
            await client.aclose()

    @app.post("/v1/chat/completions")
    async def chat() -> Response:
        assert client is not None
        body = await request.get_data()
        headers = {k: v for k in _PASS if (v := request.headers.get(k)) is not None}
        candidates = [(target, body)]
        first = next((url for model, url in chains.items() if model in body), None)
        if first is not None:
            rewritten = json.dumps({**json.loads(body), "model": SECOND_MODEL}).encode()
            candidates = [(first, rewritten), (target, rewritten)]
        for i, (url, content) in enumerate(candidates):
            req = client.build_request("POST", url, content=content, headers=headers)
            resp = await client.send(req, stream=True)
            if i + 1 < len(candidates) and (resp.status_code == 429 or resp.status_code >= 500):
                await resp.aread()  # read to the end, so the connection goes back to the pool
                await resp.aclose()
                continue
            kind = resp.headers.get("content-type", "application/json")
            if not kind.startswith("text/event-stream"):
                try:
                    data = await resp.aread()
                finally:
                    await resp.aclose()
                return Response(data, status=resp.status_code, content_type=kind)
            return Response(_relay(resp), status=resp.status_code, content_type=kind)
        raise AssertionError("unreachable: the last candidate always answers")

    return app


async def _relay(resp: httpx2.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in resp.aiter_raw():
            yield chunk
    finally:
        await resp.aclose()


def from_env() -> QuartTrio:
    """The app of one of Hypercorn's worker processes, which evaluate `config.application_path`
    in this module; the environment they inherit carries the upstream URLs."""
    return create_app(os.environ[_UPSTREAM], json.loads(os.environ.get(_FAILOVER) or "{}"))


def _config(host: str, port: int, workers: int):
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"{host}:{port}"]
    config.worker_class = "trio"
    config.backlog = 4096
    config.accesslog = None
    config.application_path = "benchmarks.peers.floor:from_env()"
    config.workers = workers
    return config


async def _until_signalled() -> None:
    import trio

    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for _ in signals:
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--failover", default="{}", help="JSON: model -> first candidate URL")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    os.environ[_UPSTREAM] = args.upstream
    os.environ[_FAILOVER] = args.failover
    config = _config(args.host, args.port, args.workers)
    if args.workers > 1:
        from hypercorn.run import run

        raise SystemExit(run(config))
    import trio
    from hypercorn.trio import serve

    forwarder = create_app(args.upstream, json.loads(args.failover))
    trio.run(lambda: serve(forwarder, config, shutdown_trigger=_until_signalled))


if __name__ == "__main__":
    main()
