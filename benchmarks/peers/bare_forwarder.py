"""The usual Trio stack by itself: a bare ASGI forwarder on Hypercorn's Trio worker with httpx.

No parsing beyond what failover needs, no routing, no logging: it shows what Hypercorn + Trio +
httpx cost by themselves (baton was built on them until it replaced them with its own HTTP
layer, `edge/wire` and `actors/http_client`), so a reader can see what that change bought.

    python -m benchmarks.peers.bare_forwarder --port P --upstream http://127.0.0.1:U/v1 \
        [--failover '{"bench-failover": "http://127.0.0.1:F/v1"}'] [--workers 2]

Every request goes to `--upstream`; a request for a model named in `--failover` first tries
that URL and, on 429 or 5xx, the upstream (model rewritten to `bench-model`): the simplest
possible failover, with no memory of past failures, for comparison with the gateways' own.
"""

from __future__ import annotations

import argparse
import json
import os

import httpx

_UPSTREAM = "BENCH_BARE_UPSTREAM"
_FAILOVER = "BENCH_BARE_FAILOVER"
_PASS_HEADERS = (b"content-type", b"authorization")


class Forwarder:
    def __init__(self) -> None:
        self.upstream = os.environ[_UPSTREAM].rstrip("/")
        self.failover = {
            model.encode(): url.rstrip("/")
            for model, url in json.loads(os.environ.get(_FAILOVER) or "{}").items()
        }
        self.client: httpx.AsyncClient | None = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            return await self._lifespan(receive, send)
        if scope["type"] != "http":
            return
        if scope["method"] == "GET":
            return await _reply(send, 200, b'{"status":"ok"}')
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"].removeprefix("/v1")
        headers = [(k.decode(), v.decode()) for k, v in scope["headers"] if k in _PASS_HEADERS]
        candidates = [(self.upstream, bytes(body))]
        first = next(
            (url for model, url in self.failover.items() if b'"' + model + b'"' in body), None
        )
        if first:
            request = json.loads(body)
            request["model"] = "bench-model"
            rewritten = json.dumps(request).encode()
            candidates = [(first, rewritten), (self.upstream, rewritten)]
        for i, (base, content) in enumerate(candidates):
            req = self.client.build_request("POST", base + path, content=content, headers=headers)
            resp = await self.client.send(req, stream=True)
            if i + 1 < len(candidates) and (resp.status_code == 429 or resp.status_code >= 500):
                await resp.aclose()
                continue
            try:
                await send(
                    {
                        "type": "http.response.start",
                        "status": resp.status_code,
                        "headers": [
                            (b"content-type", resp.headers.get("content-type", "").encode())
                        ],
                    }
                )
                async for chunk in resp.aiter_raw():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b""})
            finally:
                await resp.aclose()
            return

    async def _lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                limits = httpx.Limits(max_connections=None, max_keepalive_connections=1024)
                self.client = httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(600.0))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _reply(send, status: int, payload: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": payload})


# Hypercorn imports `app` by path in each worker; the environment carries the upstream URLs.
app = None if _UPSTREAM not in os.environ else Forwarder()


def main() -> None:
    from hypercorn.config import Config
    from hypercorn.run import run

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--failover", default="{}", help="JSON: model -> first candidate URL")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    os.environ[_UPSTREAM] = args.upstream
    os.environ[_FAILOVER] = args.failover
    config = Config()
    config.bind = [f"{args.host}:{args.port}"]
    config.worker_class = "trio"
    config.backlog = 4096
    config.accesslog = None
    config.application_path = "benchmarks.peers.bare_forwarder:app"
    config.workers = 0 if args.workers == 1 else args.workers  # 0: serve in this process
    raise SystemExit(run(config))


if __name__ == "__main__":
    main()
