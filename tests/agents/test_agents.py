"""Real coding agents through a real baton: one headless turn each, against a fake upstream.

Each test starts a simulated Chat Completions upstream and a baton gateway on 127.0.0.1, puts a
recording proxy in front of baton, runs the client's own CLI as a subprocess in a throwaway home
and checks three things: the upstream's text came out of the client, the client called the
endpoint we expect (and nothing else), and the upstream received the turn (the user's prompt,
the chain's model, the provider's key). Skipped, with the reason, when the client is absent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio

from edge.simulator import Complete, always
from tests.agents.clients import (
    CLIENT_TIMEOUT,
    OPENCODE_ENV,
    ClientHome,
    Recorder,
    ResponsesStub,
    codex_bin,
    codex_command,
    full_stream,
    message_item,
    needs_codex,
    needs_opencode,
    opencode_bin,
    opencode_command,
    opencode_texts,
    run_client,
    write_codex_config,
    write_opencode_config,
)
from tests.e2e.harness import Gateway, launch

TEXT = "Relayed by baton: agent check 4217."
PROMPT = "Reply with the agent check phrase."
VM = "agent-vm"
SAMPLES = Path(__file__).resolve().parent / "samples"


async def gateway_behind_recorder(nursery: trio.Nursery) -> tuple[Gateway, Recorder]:
    gateway = await launch(
        nursery, {"alpha": always(Complete(TEXT))}, virtual_models={VM: ["alpha/m"]}
    )
    recorder = await Recorder(int(gateway.url.rsplit(":", 1)[1])).start(nursery)
    return gateway, recorder


def assert_upstream_got_the_turn(gateway: Gateway) -> None:
    calls = gateway.upstreams["alpha"].calls
    assert calls, "the upstream received nothing"
    assert all(c.path == "/v1/chat/completions" for c in calls)
    assert all(c.model == "m" and c.api_key == "alpha-key" for c in calls)
    assert any(PROMPT in json.dumps(c.json) for c in calls), "no upstream call carried the prompt"


@needs_codex
@pytest.mark.parametrize("transport", ["http", "websocket"])
async def test_codex_exec_turn_through_baton(client_home: ClientHome, transport: str) -> None:
    binary = codex_bin()
    assert binary is not None
    last = client_home.root / "last-message.txt"
    websocket = transport == "websocket"
    with trio.fail_after(CLIENT_TIMEOUT + 30):
        async with trio.open_nursery() as nursery:
            gateway, recorder = await gateway_behind_recorder(nursery)
            write_codex_config(client_home, f"{recorder.url}/v1", VM, websocket=websocket)
            run = await run_client(
                codex_command(binary, PROMPT, last),
                client_home.env(gateway.api_key),
                client_home.workdir,
            )
            nursery.cancel_scope.cancel()
    assert run.returncode == 0, run.output
    assert TEXT in run.stdout, run.output
    assert last.read_text().strip() == TEXT
    sent = recorder.requests[0]
    assert sent.headers["authorization"] == f"Bearer {gateway.api_key}"
    if websocket:  # the frames inside are not recorded; see README for what Codex sends
        assert recorder.paths() == [("GET", "/v1/responses")], run.output
        assert sent.headers["upgrade"].lower() == "websocket"
        assert sent.headers["openai-beta"].startswith("responses_websockets=")
    else:
        assert recorder.paths() == [("POST", "/v1/responses")], run.output
        assert sent.headers["accept"] == "text/event-stream"
        body = sent.json()
        assert body["model"] == VM and body["stream"] is True and body["store"] is False
    assert_upstream_got_the_turn(gateway)


@needs_opencode
@pytest.mark.parametrize(
    ("wire_api", "path"),
    [("chat", "/v1/chat/completions"), ("responses", "/v1/responses")],
)
async def test_opencode_run_turn_through_baton(
    client_home: ClientHome, wire_api: str, path: str
) -> None:
    binary = opencode_bin()
    assert binary is not None
    with trio.fail_after(CLIENT_TIMEOUT + 30):
        async with trio.open_nursery() as nursery:
            gateway, recorder = await gateway_behind_recorder(nursery)
            config = write_opencode_config(client_home, f"{recorder.url}/v1", VM, wire_api)
            env = client_home.env(gateway.api_key, OPENCODE_CONFIG=str(config), **OPENCODE_ENV)
            run = await run_client(opencode_command(binary, PROMPT), env, client_home.workdir)
            nursery.cancel_scope.cancel()
    assert run.returncode == 0, run.output
    assert TEXT in opencode_texts(run.stdout), run.output
    # The turn, and usually a second call that titles the session: all on the same endpoint.
    assert recorder.paths(), run.output
    assert set(recorder.paths()) == {("POST", path)}, run.output
    assert all(r.json()["model"] == VM for r in recorder.requests)
    assert_upstream_got_the_turn(gateway)


# What Codex needs back from POST /responses, pinned against this Codex version with a stub:
# it dispatches on each event's JSON `type` (the `event:` line is ignored), takes the reply's
# text only from `response.output_item.done`, and treats a stream without a
# `response.completed` carrying `response.id` as broken (exit 1, no retry here).
DONE_ITEM = {"type": "response.output_item.done", "output_index": 0, "item": message_item(TEXT)}
COMPLETED = {"type": "response.completed", "response": {"id": "resp_1"}}
DELTA = {"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0,
         "content_index": 0, "delta": TEXT}  # fmt: skip
STREAMS: dict[str, tuple[list[dict[str, Any]], bool, str]] = {
    # name: (events, exits 0 with TEXT as its answer, what stderr says otherwise)
    "as-openai-sends-it": (full_stream(TEXT, VM), True, ""),
    "item-done-and-completed-only": ([DONE_ITEM, COMPLETED], True, ""),
    "no-completed": (full_stream(TEXT, VM)[:-1], False, "stream closed before response.completed"),
    "completed-without-id": (
        [DONE_ITEM, {"type": "response.completed", "response": {}}],
        False,
        "missing field `id`",
    ),
    "deltas-without-item": ([DELTA, COMPLETED], False, "OutputTextDelta without active item"),
}


@needs_codex
@pytest.mark.parametrize("name", list(STREAMS))
async def test_codex_responses_contract(client_home: ClientHome, name: str) -> None:
    events, answers, complaint = STREAMS[name]
    binary = codex_bin()
    assert binary is not None
    last = client_home.root / "last-message.txt"
    with trio.fail_after(CLIENT_TIMEOUT + 30):
        async with trio.open_nursery() as nursery:
            stub = await ResponsesStub(events).start(nursery)
            write_codex_config(client_home, f"{stub.url}/v1", VM)
            run = await run_client(
                codex_command(binary, PROMPT, last), client_home.env("k"), client_home.workdir
            )
            nursery.cancel_scope.cancel()
    assert [(r.method, r.path) for r in stub.requests] == [("POST", "/v1/responses")]
    if answers:
        assert run.returncode == 0, run.output
        assert last.read_text().strip() == TEXT, run.output
    else:
        assert TEXT not in run.stdout, run.output
        assert complaint in run.stderr, run.output
    if name == "as-openai-sends-it":
        assert_matches_sample(stub.requests[0].json())


def assert_matches_sample(body: dict[str, Any]) -> None:
    """The request has the shape recorded in samples/codex_request.json (rerecord on upgrade)."""
    sample = json.loads((SAMPLES / "codex_request.json").read_text())

    def shape(request: dict[str, Any]) -> dict[str, Any]:
        return {
            "keys": sorted(request),
            "roles": sorted({i.get("role", i["type"]) for i in request["input"]}),
            "tool_types": sorted({t["type"] for t in request["tools"]}),
        }

    assert shape(body) == shape(sample)
    assert body["input"][-1]["content"] == [{"type": "input_text", "text": PROMPT}]
