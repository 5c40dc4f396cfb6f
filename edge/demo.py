"""`baton demo`: three simulated upstreams and the gateway in one process, no keys needed.

`flaky` answers 429 with Retry-After, `broken` answers 500, `steady` serves. The virtual model
`coding-elite` walks flaky -> broken -> steady, so every call shows failover in its
`x-baton-route` header, and the second call shows flaky skipped while it cools down.
"""

from __future__ import annotations

import functools
import signal

import httpx2
import trio
import yaml

import config as baton_config
from edge.server import serve
from edge.simulator import Complete, Error, Simulator, always

DEMO_KEY = "sk-baton-demo"
RETRY_AFTER = 5


def _upstreams() -> dict[str, Simulator]:
    reply = Complete(
        "Hello from the steady upstream: baton walked the chain to reach me.", chunk_delay=0.05
    )
    return {
        "flaky": Simulator(always(Error.rate_limited(retry_after=RETRY_AFTER)), name="flaky"),
        "broken": Simulator(always(Error(500)), name="broken"),
        "steady": Simulator(always(reply), name="steady"),
    }


def demo_config(upstreams: dict[str, Simulator]) -> baton_config.Config:
    document = {
        "server": {"api_keys": [DEMO_KEY]},
        "timeouts": {"connect": 2, "first_byte": 5, "idle": 10, "total": 30},
        "providers": {
            name: {
                "kind": "openai",
                "base_url": sim.base_url,
                "keys": [f"{name}-demo-key"],
                "models": ["demo-large", "demo-small"],
            }
            for name, sim in upstreams.items()
        },
        "virtual_models": {
            "coding-elite": {
                "chain": ["flaky/demo-large", "broken/demo-large", "steady/demo-large"]
            },
            "coding-fast": {"chain": ["broken/demo-small", "steady/demo-small"]},
        },
    }
    return baton_config.load_text(yaml.safe_dump(document), env={}, source="demo").config


def _instructions(url: str) -> str:
    body = '{"model": "coding-elite", "messages": [{"role": "user", "content": "hi"}]}'
    return f"""
baton demo: the gateway is serving on {url}/v1 (client key: {DEMO_KEY})
Simulated upstreams: flaky (429, Retry-After {RETRY_AFTER}s), broken (500), steady (200).
Virtual model coding-elite = flaky -> broken -> steady.

Try it (watch the x-baton-route header):
  curl -i {url}/v1/chat/completions -H "Authorization: Bearer {DEMO_KEY}" \\
       -H "content-type: application/json" -d '{body}'

  python -c "from openai import OpenAI; c = OpenAI(base_url='{url}/v1', api_key='{DEMO_KEY}'); \\
    r = c.chat.completions.create(model='coding-elite', \\
    messages=[{{'role': 'user', 'content': 'hi'}}]); print(r.choices[0].message.content)"
"""


async def walk_through(url: str) -> None:
    """Make the calls a newcomer would, and say what happened on each."""
    request = {"model": "coding-elite", "messages": [{"role": "user", "content": "hi"}]}
    headers = {"authorization": f"Bearer {DEMO_KEY}"}
    async with httpx2.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
        print("Walk-through:")
        for step, note in (
            (1, "flaky says 429, broken says 500, steady serves"),
            (2, f"flaky is cooling for {RETRY_AFTER}s: skipped without a call"),
        ):
            response = await client.post("/v1/chat/completions", json=request)
            answer = response.json()["choices"][0]["message"]["content"]
            print(
                f"  {step}. {note}\n     x-baton-route: {response.headers['x-baton-route']}"
                f"\n     answer from {response.headers['x-baton-provider']}: {answer}"
            )
        print("  3. the same, streamed:", end=" ", flush=True)
        async with client.stream(
            "POST", "/v1/chat/completions", json={**request, "stream": True}
        ) as response:
            route = response.headers["x-baton-route"]
            async for line in response.aiter_lines():
                if line.startswith("data: {"):
                    chunk = httpx2.Response(200, content=line[6:]).json()
                    for choice in chunk.get("choices", []):
                        print(choice["delta"].get("content") or "", end="", flush=True)
        print(f"\n     x-baton-route: {route}")


async def run_demo(port: int, once: bool) -> int:
    upstreams = _upstreams()
    async with trio.open_nursery() as simulated:
        for sim in upstreams.values():
            await simulated.start(sim.serve)
        stop = trio.Event()
        async with trio.open_nursery() as gateway:
            binds = await gateway.start(
                functools.partial(
                    serve,
                    demo_config(upstreams),
                    host="127.0.0.1",
                    port=port,
                    shutdown_trigger=stop.wait,
                )
            )
            url = binds[0]
            print(_instructions(url), flush=True)
            await walk_through(url)
            if not once:
                print("\nServing until Ctrl-C.", flush=True)
                with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                    async for _ in signals:
                        break
            stop.set()
        simulated.cancel_scope.cancel()
    return 0
