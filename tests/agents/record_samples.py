"""Record what the real clients send to baton, into tests/agents/samples/.

    python -m tests.agents.record_samples

Runs each installed client once through a recording proxy in front of a baton gateway (fake
upstream, as in the tests) and writes, per client and wire API, the request that carried the
turn (`<name>_request.json`) and its headers (`<name>_request_headers.json`, key redacted).
For Codex over WebSocket (`supports_websockets = true`) it talks to a small trio-websocket stub
instead and writes every `response.create` frame Codex sent (`codex_ws_frames.json`). Claude
Code speaks the Anthropic Messages API, so it talks to a stub answering Messages SSE
(`clients.messages_stream`) and its turn lands in `claude_code_request*.json`. Rerun it
after bumping a client in package.json; `test_codex_responses_contract` compares the Codex
request's shape with the recorded one.
"""

from __future__ import annotations

import functools
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import trio
from trio_websocket import ConnectionClosed, WebSocketRequest, serve_websocket

from tests.agents.clients import (
    OPENCODE_ENV,
    ClientHome,
    ResponsesStub,
    SeenRequest,
    claude_bin,
    claude_command,
    claude_env,
    codex_bin,
    codex_command,
    message_item,
    messages_stream,
    opencode_bin,
    opencode_command,
    run_client,
    write_codex_config,
    write_opencode_config,
)
from tests.agents.test_agents import PROMPT, SAMPLES, VM, gateway_behind_recorder


def save(name: str, request: SeenRequest) -> None:
    headers: dict[str, Any] = dict(request.headers)
    if "authorization" in headers:
        headers["authorization"] = "Bearer <baton client key>"
    if "x-api-key" in headers:
        headers["x-api-key"] = "<baton client key>"
    SAMPLES.mkdir(exist_ok=True)
    body = json.dumps(request.json(), indent=2, ensure_ascii=False) + "\n"
    (SAMPLES / f"{name}_request.json").write_text(body)
    meta = {"method": request.method, "path": request.path, "headers": headers}
    (SAMPLES / f"{name}_request_headers.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote samples/{name}_request.json ({len(request.body)} bytes)")


async def record(name: str, root: Path) -> None:
    home = ClientHome(root / name).create()
    async with trio.open_nursery() as nursery:
        gateway, recorder = await gateway_behind_recorder(nursery)
        base_url = f"{recorder.url}/v1"
        if name == "codex":
            binary = codex_bin()
            assert binary is not None
            write_codex_config(home, base_url, VM)
            command = codex_command(binary, PROMPT, home.root / "last.txt")
            env = home.env(gateway.api_key)
        else:
            binary = opencode_bin()
            assert binary is not None
            config = write_opencode_config(home, base_url, VM, name.removeprefix("opencode_"))
            command = opencode_command(binary, PROMPT)
            env = home.env(gateway.api_key, OPENCODE_CONFIG=str(config), **OPENCODE_ENV)
        run = await run_client(command, env, home.workdir)
        nursery.cancel_scope.cancel()
    if run.returncode != 0 or not recorder.requests:
        sys.exit(f"{name}: no usable run\n{run.output}")
    # OpenCode's first call may be the one that titles the session: keep the one with the prompt.
    turn = [r for r in recorder.requests if PROMPT in r.body.decode(errors="replace")]
    save(name, (turn or recorder.requests)[-1])


async def record_codex_websocket(root: Path) -> None:
    """Codex over WebSocket against a stub: the prewarm gets an empty response, the turn text."""
    frames: list[Any] = []
    handshakes: list[dict[str, str]] = []

    async def handler(request: WebSocketRequest) -> None:
        handshakes.append({k.decode(): v.decode() for k, v in request.headers})
        ws = await request.accept()
        try:
            while True:
                frame = json.loads(await ws.get_message())
                frames.append(frame)
                rid = f"resp_{len(frames)}"
                events: list[dict[str, Any]] = [
                    {"type": "response.created", "response": {"id": rid}}
                ]
                if frame.get("generate") is not False:
                    item = message_item("recorded")
                    events.append(
                        {"type": "response.output_item.done", "output_index": 0, "item": item}
                    )
                events.append({"type": "response.completed", "response": {"id": rid}})
                for event in events:
                    await ws.send_message(json.dumps(event))
        except ConnectionClosed:
            pass

    home = ClientHome(root / "codex_ws").create()
    binary = codex_bin()
    assert binary is not None
    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            functools.partial(
                serve_websocket, handler, "127.0.0.1", 0, None, max_message_size=2**24
            )
        )
        base_url = f"http://127.0.0.1:{server.port}/v1"
        write_codex_config(home, base_url, VM, websocket=True)
        command = codex_command(binary, PROMPT, home.root / "last.txt")
        run = await run_client(command, home.env("sample-key"), home.workdir)
        nursery.cancel_scope.cancel()
    if run.returncode != 0 or not frames:
        sys.exit(f"codex_ws: no usable run\n{run.output}")
    for headers in handshakes:
        headers.pop("authorization", None)
    sample = {"handshake_headers": handshakes[0], "frames": frames}
    (SAMPLES / "codex_ws_frames.json").write_text(json.dumps(sample, indent=2) + "\n")
    print(f"wrote samples/codex_ws_frames.json ({len(frames)} frames)")


async def record_claude_code(root: Path) -> None:
    """One `claude -p` turn against a Messages stub (baton's /v1/messages may not exist yet);
    Claude Code picks its own model id, as it does when only ANTHROPIC_BASE_URL is set."""
    home = ClientHome(root / "claude_code").create()
    binary = claude_bin()
    assert binary is not None
    async with trio.open_nursery() as nursery:
        stub = await ResponsesStub(messages_stream("recorded")).start(nursery)
        env = claude_env(home, stub.url, "sample-key")
        run = await run_client(claude_command(binary, PROMPT), env, home.workdir)
        nursery.cancel_scope.cancel()
    if run.returncode != 0 or not stub.requests:
        sys.exit(f"claude_code: no usable run\n{run.output}")
    save("claude_code", stub.requests[-1])


async def main() -> None:
    names = ["codex"] if codex_bin() else []
    names += ["opencode_chat", "opencode_responses"] if opencode_bin() else []
    if not names and not claude_bin():
        sys.exit("no client installed: npm ci --prefix tests/agents")
    with tempfile.TemporaryDirectory(prefix="baton-agents-") as root:
        for name in names:
            await record(name, Path(root))
        if codex_bin():
            await record_codex_websocket(Path(root))
        if claude_bin():
            await record_claude_code(Path(root))


if __name__ == "__main__":
    trio.run(main)
