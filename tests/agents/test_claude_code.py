"""Claude Code through a real baton: its Anthropic Messages calls, served by Chat-only upstreams.

Claude Code (`claude -p`) only speaks the Anthropic Messages API: it POSTs
`{ANTHROPIC_BASE_URL}/v1/messages?beta=true` with `x-api-key`, `anthropic-version: 2023-06-01`,
a list of `anthropic-beta` flags and `stream: true`, and reads back Messages SSE
(`message_start` ... `message_stop`). baton answers that on `POST /v1/messages` and walks the
same fallback chains as for Chat, here over simulated Chat Completions upstreams.

Which chain serves Claude Code's model ids. Left alone, Claude Code sends its own ids
(`claude-opus-5-5` in 2.1.332, `claude-sonnet-5-5` for `--model sonnet`, a haiku id for
background work), so the gateway's top-level `model_aliases` maps them onto virtual models:
`claude-*-haiku*` to the fast chain, any other `claude-*` to the main one. The other way is
ANTHROPIC_MODEL (and the small/fast model) set to a virtual model's own name, which Claude Code
sends verbatim. `test_claude_code_turn_fails_over` runs both ("alias" and "virtual");
the tool round trip uses the aliases, which is what a user who only sets ANTHROPIC_BASE_URL gets.

What Claude Code sent, recorded with a fake Messages server: `samples/claude_code_request.json`
(and `python -m tests.agents.record_samples` rewrites it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio

from edge.simulator import Complete, Error, SimRequest, ToolCall, always
from edge.simulator.replies import Reply, Script
from tests.agents.clients import (
    CLIENT_TIMEOUT,
    ClientHome,
    Recorder,
    claude_bin,
    claude_command,
    claude_env,
    claude_result,
    needs_claude,
    run_client,
)
from tests.e2e.harness import Gateway, gateway_config, start_gateway, start_upstreams

TEXT = "Relayed by baton: agent check 4217."
PROMPT = "Reply with the agent check phrase."
MAIN, FAST = "claude-main", "claude-fast"
MODEL_ALIASES = {"claude-*-haiku*": FAST, "claude-*": MAIN}
MESSAGES_PATH = "/v1/messages?beta=true"
SECRET = "marmalade-7731"
NOTES = "notes.txt"
READ_PROMPT = f"Read {NOTES} and tell me the secret word in it."


async def gateway_for_claude(
    nursery: trio.Nursery, alpha: Script, beta: Script
) -> tuple[Gateway, Recorder]:
    """baton with `claude-main` = alpha/m then beta/m, `claude-fast` = beta/m, the Claude
    aliases on top, and a recording proxy in front."""
    upstreams = await start_upstreams(nursery, alpha=alpha, beta=beta)
    document = gateway_config(
        upstreams, virtual_models={MAIN: ["alpha/m", "beta/m"], FAST: ["beta/m"]}
    )
    document["model_aliases"] = dict(MODEL_ALIASES)
    gateway = await start_gateway(nursery, document, upstreams)
    recorder = await Recorder(int(gateway.url.rsplit(":", 1)[1])).start(nursery)
    return gateway, recorder


async def recent_routes(gateway: Gateway, count: int) -> list[str]:
    """The `route` of baton's latest `count` calls in /stats (telemetry lands just after the
    reply, so wait for it), oldest first."""
    async with gateway.http() as http:
        with trio.fail_after(10):
            while True:
                recent = (await http.get("/stats")).json()["recent"]
                if len(recent) >= count:
                    return [call["route"] for call in reversed(recent[:count])]
                await trio.sleep(0.05)


def assert_messages_requests(recorder: Recorder, gateway: Gateway, output: str) -> None:
    """Every request Claude Code made was a streamed Messages call with baton's key."""
    assert recorder.requests, output
    assert set(recorder.paths()) == {("POST", MESSAGES_PATH)}, output
    for request in recorder.requests:
        assert request.headers["x-api-key"] == gateway.api_key
        assert request.headers["anthropic-version"] == "2023-06-01"
        assert "anthropic-beta" in request.headers
        assert request.json()["stream"] is True


@needs_claude
@pytest.mark.parametrize("model", ["alias", "virtual"])
async def test_claude_code_turn_fails_over(client_home: ClientHome, model: str) -> None:
    """One `claude -p` turn; the main chain's first candidate is rate-limited, the second
    answers, and the answer is Claude Code's result."""
    binary = claude_bin()
    assert binary is not None
    with trio.fail_after(CLIENT_TIMEOUT + 30):
        async with trio.open_nursery() as nursery:
            gateway, recorder = await gateway_for_claude(
                nursery, always(Error.rate_limited()), always(Complete(TEXT))
            )
            env = claude_env(
                client_home, recorder.url, gateway.api_key, MAIN if model == "virtual" else None
            )
            run = await run_client(claude_command(binary, PROMPT), env, client_home.workdir)
            routes = (
                await recent_routes(gateway, len(recorder.requests)) if run.returncode == 0 else []
            )
            nursery.cancel_scope.cancel()
    assert run.returncode == 0, run.output
    result = claude_result(run.stdout)
    assert result.get("is_error") is False and result.get("subtype") == "success", run.output
    assert TEXT in result["result"], run.output
    assert_messages_requests(recorder, gateway, run.output)
    sent = [request.json()["model"] for request in recorder.requests]
    if model == "virtual":
        assert sent == [MAIN] * len(sent), sent
    else:  # Claude Code's own ids, none of them a haiku one for a single `-p` turn
        assert all(m.startswith("claude-") and "haiku" not in m for m in sent), sent
    # baton walked the main chain: alpha refused with 429, beta served.
    assert routes == ["alpha/m=429,beta/m=200"] * len(sent), routes
    alpha, beta = gateway.upstreams["alpha"].calls, gateway.upstreams["beta"].calls
    assert alpha and beta
    assert all(c.path == "/v1/chat/completions" and c.model == "m" for c in alpha + beta)
    assert beta[-1].api_key == "beta-key"
    assert PROMPT in json.dumps(beta[-1].json), "the upstream call lacks the user's prompt"


def has_tool_result(request: SimRequest) -> str | None:
    """The content of the last `role: tool` message in a Chat request, if it has one."""
    messages = request.json.get("messages", []) if isinstance(request.json, dict) else []
    results = [m for m in messages if isinstance(m, dict) and m.get("role") == "tool"]
    if not results:
        return None
    content = results[-1].get("content")
    if isinstance(content, list):  # content parts: join their text
        content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)


def read_then_answer(path: Path) -> Script:
    """A Chat upstream that calls Claude Code's `Read` tool on `path`, then, once the tool's
    result is in the history, answers with text that quotes it."""

    def script(request: SimRequest) -> Reply:
        result = has_tool_result(request)
        if result is None:
            arguments = json.dumps({"file_path": str(path)})
            return Complete("", tool_calls=[ToolCall("call_read_1", "Read", arguments)])
        return Complete(f"The file says: {result.strip()}")

    return script


def tool_blocks(body: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [
        block
        for message in body["messages"]
        if isinstance(message["content"], list)
        for block in message["content"]
        if block.get("type") == kind
    ]


@needs_claude
async def test_claude_code_reads_a_file_through_baton(client_home: ClientHome) -> None:
    """A tool round trip through a rate-limited chain: the first candidate answers 429 (and
    is cooling for the second call), the second asks for `Read` on a file in the working
    directory, Claude Code runs it and sends the result back, the answer quotes it."""
    binary = claude_bin()
    assert binary is not None
    notes = client_home.workdir / NOTES
    notes.write_text(f"The secret word is {SECRET}.\n")
    script = read_then_answer(notes)
    with trio.fail_after(CLIENT_TIMEOUT + 30):
        async with trio.open_nursery() as nursery:
            gateway, recorder = await gateway_for_claude(
                nursery, always(Error.rate_limited(retry_after=60)), script
            )
            env = claude_env(client_home, recorder.url, gateway.api_key)
            run = await run_client(claude_command(binary, READ_PROMPT), env, client_home.workdir)
            routes = await recent_routes(gateway, 2) if run.returncode == 0 else []
            nursery.cancel_scope.cancel()
    assert run.returncode == 0, run.output
    result = claude_result(run.stdout)
    assert result.get("is_error") is False, run.output
    assert SECRET in result["result"], run.output
    assert_messages_requests(recorder, gateway, run.output)
    # Two model calls: the one answered with the tool call, the one carrying its result.
    assert len(recorder.requests) == 2, recorder.paths()
    first, second = (request.json() for request in recorder.requests)
    read = next(tool for tool in first["tools"] if tool["name"] == "Read")
    assert "file_path" in read["input_schema"]["required"]
    (use,) = tool_blocks(second, "tool_use")
    assert use["name"] == "Read" and use["input"] == {"file_path": str(notes)}
    (back,) = tool_blocks(second, "tool_result")
    assert back["tool_use_id"] == use["id"]
    assert SECRET in json.dumps(back["content"])
    # Upstream side: the tool was offered as a Chat function and its result came back.
    assert len(gateway.upstreams["alpha"].calls) == 1  # then cooling: passed over
    assert routes == [
        "alpha/m=429,beta/m=200",
        "alpha/m=cooling,beta/m=200",
    ]
    calls = gateway.upstreams["beta"].calls
    assert len(calls) == 2, [c.json for c in calls]
    offered = {tool["function"]["name"]: tool["function"] for tool in calls[0].json["tools"]}
    assert "file_path" in offered["Read"]["parameters"]["properties"]
    assert SECRET in (has_tool_result(calls[1]) or ""), calls[1].json
