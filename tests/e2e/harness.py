"""End-to-end plumbing: simulated upstreams, a real gateway on 127.0.0.1:0, the openai client.

The gateway runs in the test's own trio loop (real Hypercorn, real sockets); the official
`openai` client, which is synchronous here, runs in a worker thread so the loop keeps serving.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import anthropic
import attrs
import httpx2
import openai
import trio
import yaml
from trio_websocket import WebSocketConnection, wrap_client_stream

import config as baton_config
from edge.server import serve
from edge.simulator import Script, Simulator

CLIENT_KEY = "client-key-for-tests"
BATON = [sys.executable, "-m", "edge.cli"]  # the CLI as a real process
T = TypeVar("T")


async def in_thread(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await trio.to_thread.run_sync(functools.partial(function, *args, **kwargs))


@attrs.define
class Gateway:
    url: str
    upstreams: dict[str, Simulator]
    api_key: str = CLIENT_KEY

    def client(self, api_key: str | None = None, **options: Any) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=f"{self.url}/v1",
            api_key=api_key or self.api_key,
            max_retries=0,
            timeout=options.pop("timeout", 30),
            **options,
        )

    def anthropic(self, api_key: str | None = None, **options: Any) -> anthropic.Anthropic:
        """The official anthropic client, pointed at baton (it adds `/v1/messages` itself)."""
        return anthropic.Anthropic(
            base_url=self.url,
            api_key=api_key or self.api_key,
            max_retries=0,
            timeout=options.pop("timeout", 30),
            **options,
        )

    def http(self, **options: Any) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(
            base_url=self.url,
            timeout=options.pop("timeout", 30),
            headers={"authorization": f"Bearer {self.api_key}"},
            **options,
        )

    async def chat(self, model: str, **fields: Any) -> Any:
        """A non-streamed call through the openai client: the raw response (headers + parse())."""

        def run() -> Any:
            with self.client() as client:
                raw = client.chat.completions.with_raw_response.create(
                    model=model,
                    messages=fields.pop("messages", [{"role": "user", "content": "hi"}]),
                    **fields,
                )
                raw.parse()
                return raw

        return await in_thread(run)

    async def stream(self, model: str, **fields: Any) -> tuple[Any, list[Any]]:
        """A streamed call: the raw response and every chunk (raises what the SDK raises)."""

        def run() -> tuple[Any, list[Any]]:
            with self.client() as client:
                raw = client.chat.completions.with_raw_response.create(
                    model=model,
                    stream=True,
                    messages=fields.pop("messages", [{"role": "user", "content": "hi"}]),
                    **fields,
                )
                with raw.parse() as stream:
                    return raw, list(stream)

        return await in_thread(run)


def text_of(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def gateway_config(
    upstreams: dict[str, Simulator],
    *,
    virtual_models: dict[str, list[str]] | None = None,
    keys: dict[str, list[str]] | None = None,
    timeouts: dict[str, float] | None = None,
    providers: dict[str, dict[str, Any]] | None = None,
    server: dict[str, Any] | None = None,
    model_aliases: dict[str, str] | None = None,
    embeddings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A config document over the given upstreams: provider `name` serves models m, m2 and any."""
    keys = keys or {}
    document: dict[str, Any] = {
        "server": {"api_keys": [CLIENT_KEY], **(server or {})},
        "timeouts": {"connect": 2, "first_byte": 2, "idle": 2, "total": 20, **(timeouts or {})},
        "providers": {
            name: {
                "kind": "openai",
                "base_url": sim.base_url,
                "keys": keys.get(name, [f"{name}-key"]),
                "models": ["*"],
            }
            for name, sim in upstreams.items()
        },
        "virtual_models": {
            name: {"chain": chain} for name, chain in (virtual_models or {}).items()
        },
    }
    for name, extra in (providers or {}).items():
        document["providers"].setdefault(name, {}).update(extra)
    if model_aliases:
        document["model_aliases"] = model_aliases
    if embeddings:
        document["embeddings"] = embeddings
    return document


async def start_gateway(
    nursery: trio.Nursery,
    document: dict[str, Any],
    upstreams: dict[str, Simulator],
    data_dir: Path | None = None,
) -> Gateway:
    # in the document's own order: `model_aliases:` are tried in the order written
    text = yaml.safe_dump(document, sort_keys=False)
    loaded = baton_config.load_text(text, env={}, base_dir=None)
    binds = await nursery.start(
        functools.partial(serve, loaded.config, host="127.0.0.1", port=0, data_dir=data_dir)
    )
    return Gateway(url=binds[0], upstreams=upstreams)


async def start_upstreams(nursery: trio.Nursery, **scripts: Script) -> dict[str, Simulator]:
    upstreams = {}
    for name, script in scripts.items():
        sim = Simulator(script, name=name)
        await nursery.start(sim.serve)
        upstreams[name] = sim
    return upstreams


async def launch(
    nursery: trio.Nursery,
    scripts: dict[str, Script],
    *,
    data_dir: Path | None = None,
    **config: Any,
) -> Gateway:
    upstreams = await start_upstreams(nursery, **scripts)
    return await start_gateway(nursery, gateway_config(upstreams, **config), upstreams, data_dir)


@asynccontextmanager
async def websocket(port: int, path: str, **options: Any) -> AsyncIterator[WebSocketConnection]:
    """A client socket whose TCP stream is closed here: trio-websocket's client leaves it open
    when the server closes first, which is what these tests make servers do."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    try:
        async with trio.open_nursery() as nursery:
            socket = await wrap_client_stream(nursery, stream, "127.0.0.1", path, **options)
            try:
                yield socket
            finally:
                with trio.move_on_after(2):
                    await socket.aclose()
    finally:
        await stream.aclose()


def serve_command(config: Path, port: int, data_dir: Path, *flags: str) -> list[str]:
    """`baton serve` as a real process on 127.0.0.1:`port`, logging at DEBUG."""
    return [
        *BATON,
        "serve",
        "--config",
        str(config),
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--log-level",
        "DEBUG",
        *flags,
    ]


async def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago, for a gateway process to bind."""
    with trio.socket.socket() as probe:
        await probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def until_healthy(client: httpx2.AsyncClient, tries: int = 600) -> None:
    """Wait (0.1 s a try) until a gateway process answers `GET /health` with 200."""
    for _ in range(tries):
        try:
            if (await client.get("/health")).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        await trio.sleep(0.1)
    raise AssertionError("the gateway process never became healthy")
