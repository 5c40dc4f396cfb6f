"""The systems under test: how each is configured, started and addressed.

Every system is pointed at the same fake upstream: listener `ok` serves, listeners `r429` and
`r429z` answer 429 to everything (`r429z` with `Retry-After: 0`). A system turns a scenario's
wish (model name, stream or not, which failover) into the request it needs: baton wants
`up1/<model>`, Portkey its routing headers, LiteLLM a model it has in its list. Failover chains
are `r429 -> ok` (model `bench-failover`) and `r429z -> ok` (model `bench-failover-hop`).

`direct` is not a gateway: it calls the upstream itself and is the baseline every "added latency"
is measured against. Its failover request goes straight to the serving listener: the "second
upstream's own time".
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import attrs

from benchmarks.peers import litellm_peer, portkey_peer

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "benchmarks"
CHAT = "/v1/chat/completions"
SECOND_MODEL = "bench-model"
# failover kind -> (model name of the chain, failing listener it starts with)
FAILOVERS = {"cooldown": ("bench-failover", "r429"), "hop": ("bench-failover-hop", "r429z")}


@attrs.frozen
class Upstream:
    pid: int
    ok: int
    r429: int
    r429z: int

    listeners = ("ok", "r429", "r429z")

    def url(self, listener: str = "ok") -> str:
        return f"http://127.0.0.1:{getattr(self, listener)}/v1"


@attrs.frozen
class Request:
    port: int
    path: str
    headers: dict[str, str]
    body: str


@attrs.frozen
class Launch:
    argv: list[str]
    env: dict[str, str]
    cwd: Path


ISOLATED = "BATON_BENCH_NETNS"  # set by the runner inside its loopback-only namespace


def offline_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every system starts with. Outside the loopback-only namespace, proxy
    variables point at a dead loopback port so a stray outbound call fails at once."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # start-up is measured as users see it: .pyc cached
    env["PYTHONUNBUFFERED"] = "1"
    if os.environ.get(ISOLATED) != "1":
        env.update(
            {
                "HTTP_PROXY": "http://127.0.0.1:9",
                "HTTPS_PROXY": "http://127.0.0.1:9",
                "NO_PROXY": "127.0.0.1,localhost",
                "no_proxy": "127.0.0.1,localhost",
            }
        )
    env.update(extra or {})
    return env


def _body(model: str, stream: bool) -> str:
    request = {"model": model, "messages": [{"role": "user", "content": "Say hello."}]}
    if stream:
        request["stream"] = True
    return json.dumps(request)


@attrs.define
class System:
    """Base: a Python/Node server started from `launch()` and reached on `port`."""

    name: str
    workers: int = 1
    port: int = 0
    notes: list[str] = attrs.field(factory=list)

    is_server = True

    @property
    def kind(self) -> str:
        return self.name.split("-w")[0]

    def install(self, log) -> None:
        """Make sure the system can start (peers install themselves here); raise if it cannot."""

    def launch(self, up: Upstream, work: Path) -> Launch:
        raise NotImplementedError

    def request(
        self, up: Upstream, model: str, stream: bool = False, failover: str | None = None
    ) -> Request:
        """`failover`: None, or a key of FAILOVERS."""
        model = FAILOVERS[failover][0] if failover else model
        return Request(self.port, CHAT, {}, _body(model, stream))


class Direct(System):
    is_server = False

    def request(self, up, model, stream=False, failover=None) -> Request:
        return Request(up.ok, CHAT, {}, _body(SECOND_MODEL if failover else model, stream))


class Floor(System):
    """The stack's own floor (`peers/floor.py`): Quart-Trio on Hypercorn + httpx2, forwarding."""

    def launch(self, up, work) -> Launch:
        chains = {model: up.url(first) for model, first in FAILOVERS.values()}
        argv = [
            sys.executable,
            "-m",
            "benchmarks.peers.floor",
            "--port",
            str(self.port),
            "--upstream",
            up.url("ok"),
            "--failover",
            json.dumps(chains),
            "--workers",
            str(self.workers),
        ]
        return Launch(argv, offline_env(), REPO)


class Baton(System):
    def launch(self, up, work) -> Launch:
        config = work / f"{self.name}.yaml"
        config.write_text(
            # every idle stream holds a client connection too: 10,000 over two workers, each
            # taking what its accept loop wins, need more than the default 2,048 a worker
            "server: {api_keys: [], max_connections: 10000}\n"
            "timeouts: {connect: 10, first_byte: 30, idle: 120, total: 600}\n"
            "providers:\n"
            f'  up1: {{kind: openai, base_url: "{up.url("ok")}", keys: [k1, k2], '
            # every idle stream holds a connection: 10,000 over two workers need room
            'models: ["*"], max_connections: 20000}\n'
            + "".join(
                f'  {first}: {{kind: openai, base_url: "{up.url(first)}", keys: [k3], '
                'models: ["*"]}\n'
                for _, first in FAILOVERS.values()
            )
            + "virtual_models:\n"
            + "".join(
                f"  {model}: {{chain: [{first}/{SECOND_MODEL}, up1/{SECOND_MODEL}]}}\n"
                for model, first in FAILOVERS.values()
            )
        )
        data = work / f"{self.name}-data"
        data.mkdir(exist_ok=True)
        argv = [
            sys.executable,
            "-m",
            "edge.cli",
            "serve",
            "--config",
            str(config),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--data-dir",
            str(data),
            "--workers",
            str(self.workers),
            "--log-level",
            "WARNING",
        ]
        return Launch(argv, offline_env(), REPO)

    def request(self, up, model, stream=False, failover=None) -> Request:
        return super().request(up, f"up1/{model}", stream, failover)


class LiteLLM(System):
    def install(self, log) -> None:
        litellm_peer.install(log)

    def launch(self, up, work) -> Launch:
        config = work / f"{self.name}.yaml"
        chains = {model: up.url(first) for model, first in FAILOVERS.values()}
        litellm_peer.write_config(config, up.url("ok"), chains, SECOND_MODEL)
        return Launch(
            litellm_peer.argv(config, self.port, self.workers), offline_env(litellm_peer.ENV), work
        )

    def request(self, up, model, stream=False, failover=None) -> Request:
        return attrs.evolve(
            super().request(up, model, stream, failover), headers=litellm_peer.headers()
        )


class Portkey(System):
    def install(self, log) -> None:
        portkey_peer.install(log)

    def launch(self, up, work) -> Launch:
        return Launch(
            portkey_peer.argv(self.port), offline_env(portkey_peer.ENV), portkey_peer.FOLDER
        )

    def request(self, up, model, stream=False, failover=None) -> Request:
        headers = {"Authorization": "Bearer k1"}
        if failover:
            first = FAILOVERS[failover][1]
            headers["x-portkey-config"] = json.dumps(
                {
                    "strategy": {"mode": "fallback"},
                    "targets": [
                        {"provider": "openai", "api_key": "k3", "custom_host": up.url(first)},
                        {"provider": "openai", "api_key": "k1", "custom_host": up.url("ok")},
                    ],
                },
                separators=(",", ":"),
            )
            model = SECOND_MODEL
        else:
            headers.update({"x-portkey-provider": "openai", "x-portkey-custom-host": up.url("ok")})
        return Request(self.port, CHAT, headers, _body(model, stream))


KINDS = {"direct": Direct, "floor": Floor, "baton": Baton, "litellm": LiteLLM, "portkey": Portkey}
DEFAULT = ("direct", "floor", "floor-w2", "baton", "baton-w2", "litellm", "litellm-w2", "portkey")


def make(name: str) -> System:
    """`baton` -> one worker; `baton-w2` -> `--workers 2`."""
    kind, _, workers = name.partition("-w")
    if kind not in KINDS:
        raise ValueError(f"unknown system {name!r}; known: {', '.join(KINDS)} (+ -wN)")
    if kind in ("direct", "portkey") and workers:
        raise ValueError(f"{kind} has no worker count")
    return KINDS[kind](name=name, workers=int(workers or 1))
