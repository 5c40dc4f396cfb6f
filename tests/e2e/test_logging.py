"""Logs of a real `baton serve` process at DEBUG, whose upstream keys and client key are known
strings: calls that succeed, fail over, are cut mid-stream, come with a wrong key or with a
key in the query string. No secret appears on any line; every line of a call carries the
request id its reply carried; with `--log-json` every line is a JSON object."""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path
from typing import Any

import attrs
import httpx2
import trio
import yaml

from edge.simulator import Complete, Cut, Error, by_key, error_envelope
from tests.e2e.harness import (
    free_port,
    gateway_config,
    serve_command,
    start_upstreams,
    until_healthy,
)

ALPHA = "sk-alpha-LOGRUN-5f2e9c1d7b3a"
BETA = "sk-beta-LOGRUN-8c4d2a6e0f19"
GAMMA = "gamma-LOGRUN-upstream-key-71d3"
CLIENT = "client-LOGRUN-key-4b9e27"
SECRETS = (ALPHA, BETA, GAMMA, CLIENT)
HI = [{"role": "user", "content": "hi"}]
LONG = Complete("one two three four five six seven eight", chunks=8)


@attrs.frozen
class Exchange:
    name: str
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def request_id(self) -> str:
        return self.headers["x-request-id"]


@attrs.frozen
class Run:
    log: str
    exchanges: tuple[Exchange, ...]
    code: int

    @property
    def calls(self) -> tuple[Exchange, ...]:
        """The exchanges that were calls (not the look at /stats and /metrics after them)."""
        return tuple(e for e in self.exchanges if e.name not in ("stats", "metrics"))

    def by_name(self, name: str) -> Exchange:
        return next(exchange for exchange in self.exchanges if exchange.name == name)


def leaked(text: str) -> list[str]:
    """The secrets (or the ends of them an upstream would echo) found in `text`."""
    return [
        part for secret in SECRETS for part in (secret, secret[:12], secret[-8:]) if part in text
    ]


async def run_gateway(tmp_path: Path, *flags: str) -> Run:
    """Start upstreams and `baton serve` with `flags`, make the calls, stop it, read its log."""
    async with trio.open_nursery() as nursery:
        upstreams = await start_upstreams(
            nursery,
            # a rate limit whose message echoes the key, as some providers' do
            alpha=by_key(
                {ALPHA: Error(429, body=error_envelope(429, f"Rate limit on key {ALPHA}"))}
            ),
            beta=by_key({BETA: Complete("fine and well", chunks=3)}),
            gamma=by_key({GAMMA: Cut(after_chunks=3, reply=LONG)}),
        )
        document = gateway_config(
            upstreams,
            virtual_models={"vm": ["alpha/m", "beta/m"], "cut": ["gamma/m"]},
            keys={"alpha": [ALPHA], "beta": [BETA], "gamma": [GAMMA]},
            server={"api_keys": [CLIENT]},
        )
        config = tmp_path / "baton.yaml"
        config.write_text(yaml.safe_dump(document))
        port = await free_port()
        log_path = tmp_path / "stderr.log"
        with log_path.open("wb") as log_file:
            process = await trio.lowlevel.open_process(
                serve_command(config, port, tmp_path / "state", *flags),
                stdout=log_file,
                stderr=log_file,
            )
            try:
                exchanges = await make_calls(f"http://127.0.0.1:{port}")
            finally:
                process.send_signal(signal.SIGTERM)
                code = await process.wait()
        nursery.cancel_scope.cancel()
    return Run(log_path.read_text(), tuple(exchanges), code)


async def make_calls(base_url: str) -> list[Exchange]:
    auth = {"authorization": f"Bearer {CLIENT}"}
    calls: list[tuple[str, str, dict[str, str], dict[str, Any]]] = [
        ("plain", "/v1/chat/completions", auth, {"model": "beta/m", "messages": HI}),
        (
            "stream",
            "/v1/chat/completions",
            auth,
            {"model": "beta/m", "messages": HI, "stream": True},
        ),
        ("failover", "/v1/chat/completions", auth, {"model": "vm", "messages": HI}),
        ("cut", "/v1/chat/completions", auth, {"model": "cut", "messages": HI, "stream": True}),
        (
            "wrong key",
            "/v1/chat/completions",
            {"authorization": f"Bearer not-{CLIENT}"},
            {"model": "vm", "messages": HI},
        ),
        (
            "upstream key as client key",
            "/v1/chat/completions",
            {"x-api-key": ALPHA},
            {"model": "vm", "messages": HI},
        ),
        (
            "key in the query",
            f"/v1/chat/completions?key={CLIENT}&api_key={BETA}",
            auth,
            {"model": "beta/m", "messages": HI},
        ),
        (
            "client request id",
            "/v1/chat/completions",
            {**auth, "x-request-id": "trace.e2e:7"},
            {"model": "beta/m", "messages": HI},
        ),
        (
            "responses stream",
            "/v1/responses",
            auth,
            {"model": "beta/m", "input": "hi", "stream": True},
        ),
        (
            "messages",
            "/v1/messages?beta=true",
            {"x-api-key": CLIENT, "anthropic-version": "2023-06-01"},
            {"model": "vm", "max_tokens": 50, "messages": HI},
        ),
        (
            "messages stream",
            "/v1/messages",
            {"x-api-key": CLIENT, "anthropic-version": "2023-06-01"},
            {"model": "vm", "max_tokens": 50, "messages": HI, "stream": True},
        ),
        (
            "messages cut",
            "/v1/messages",
            {"x-api-key": CLIENT},
            {"model": "cut", "max_tokens": 50, "messages": HI, "stream": True},
        ),
        (
            "messages wrong key",
            "/v1/messages",
            {"x-api-key": ALPHA},
            {"model": "vm", "max_tokens": 50, "messages": HI},
        ),
    ]
    exchanges = []
    with trio.fail_after(60):
        async with httpx2.AsyncClient(base_url=base_url, timeout=20) as client:
            await until_healthy(client)
            for name, path, headers, payload in calls:
                reply = await client.post(path, headers=headers, json=payload)
                exchanges.append(
                    Exchange(name, reply.status_code, dict(reply.headers), reply.content)
                )
            # what the run looks like to whoever watches it: no secret there either
            for name, path in (("stats", "/stats"), ("metrics", "/metrics")):
                reply = await client.get(path, headers=auth)
                exchanges.append(
                    Exchange(name, reply.status_code, dict(reply.headers), reply.content)
                )
    return exchanges


def check_replies(run: Run) -> None:
    statuses = {exchange.name: exchange.status for exchange in run.exchanges}
    assert statuses == {
        "plain": 200,
        "stream": 200,
        "failover": 200,
        "cut": 200,
        "wrong key": 401,
        "upstream key as client key": 401,
        "key in the query": 200,
        "client request id": 200,
        "responses stream": 200,
        "messages": 200,
        "messages stream": 200,
        "messages cut": 200,
        "messages wrong key": 401,
        "stats": 200,
        "metrics": 200,
    }
    assert run.by_name("failover").headers["x-baton-route"] == "alpha/m=429,beta/m=200"
    cut = run.by_name("cut").body
    assert b'data: {"error"' in cut and b"[DONE]" not in cut  # cut mid-stream, said so
    assert run.by_name("client request id").request_id == "trace.e2e:7"
    # alpha's key is cooling since the Chat failover above: passed over, not tried
    assert run.by_name("messages").headers["x-baton-route"] == "alpha/m=cooling,beta/m=200"
    assert json.loads(run.by_name("messages").body)["content"][0]["text"] == "fine and well"
    assert run.by_name("messages stream").body.rstrip().endswith(b'{"type":"message_stop"}')
    messages_cut = run.by_name("messages cut").body
    assert b"event: error" in messages_cut and b"message_stop" not in messages_cut
    refused = json.loads(run.by_name("messages wrong key").body)
    assert refused["type"] == "error" and refused["error"]["type"] == "authentication_error"
    ids = [exchange.request_id for exchange in run.calls]
    assert len(set(ids)) == len(ids)
    for exchange in run.exchanges:
        assert not leaked(exchange.body.decode()), exchange.name
    stats = json.loads(run.by_name("stats").body)
    assert set(stats["providers"]["alpha"]["keys"]) == {"alpha#1"}  # keys by alias only
    assert b'key="alpha#1"' in run.by_name("metrics").body
    assert b'endpoint="messages"' in run.by_name("metrics").body
    endpoints = {call["endpoint"] for call in stats["recent"]}
    assert {"chat", "responses", "messages"} <= endpoints
    assert run.code == 0, run.log


async def test_human_logs_carry_request_ids_and_no_secret(tmp_path: Path) -> None:
    with trio.fail_after(120):
        run = await run_gateway(tmp_path)
    check_replies(run)
    assert leaked(run.log) == []
    lines = run.log.splitlines()
    assert any("baton is serving" in line for line in lines)
    line_form = re.compile(r"\d\d:\d\d:\d\d\.\d{3} (DEBUG|INFO|WARNING|ERROR) +(\[(\S+)\] )?")
    by_id: dict[str, list[str]] = {}
    for line in lines:
        if line.startswith(("Traceback", " ")):
            continue
        match = line_form.match(line)
        assert match, line
        if "/v1/" in line:  # a line about a call names it
            assert match.group(3), line
        if match.group(3):
            by_id.setdefault(match.group(3), []).append(line[match.end() :])
    for exchange in run.calls:
        said = by_id[exchange.request_id]
        assert any(line.startswith("POST /v1/") for line in said), (exchange.name, said)
        assert any(line.endswith(f" -> {exchange.status}") for line in said), (exchange.name, said)
        # the per-call line (the telemetry record's), for every call that got past the key check
        calls = [line for line in said if line.startswith(("chat ", "responses ", "messages "))]
        assert len(calls) == (exchange.status != 401), (exchange.name, said)
    call_line = {
        exchange.name: next(
            line
            for line in by_id[exchange.request_id]
            if line.startswith(("chat ", "responses ", "messages "))
        )
        for exchange in run.calls
        if exchange.status != 401
    }
    assert call_line["failover"].startswith(
        "chat vm 200 ok via beta/m route=alpha/m=429,beta/m=200 attempts=2 "
    )
    assert call_line["failover"].endswith(" client#1")
    assert call_line["cut"].startswith(
        "chat cut 200 cut error=upstream_cut via gamma/m route=gamma/m=200 "
    )
    assert call_line["responses stream"].startswith("responses beta/m 200 ok via beta/m ")
    [cut_line] = [line for line in lines if f"[{run.by_name('cut').request_id}] chat cut" in line]
    assert " WARNING " in cut_line
    query = by_id[run.by_name("key in the query").request_id]
    assert query[0] == "POST /v1/chat/completions?key=***&api_key=***"


async def test_json_logs_parse_line_by_line(tmp_path: Path) -> None:
    with trio.fail_after(120):
        run = await run_gateway(tmp_path, "--log-json")
    check_replies(run)
    assert leaked(run.log) == []
    lines = [json.loads(line) for line in run.log.splitlines()]  # every line, or this fails
    assert len(lines) > 2 * len(run.calls)
    for line in lines:
        assert {"time", "level", "message", "logger"} <= set(line), line
        assert line["time"].endswith("Z") and line["level"] in ("DEBUG", "INFO", "WARNING")
        if "/v1/" in line["message"]:
            assert "request_id" in line, line
    ids = {exchange.request_id for exchange in run.calls}
    call_lines = [line for line in lines if line.get("request_id") in ids]
    assert {line["request_id"] for line in call_lines} == ids
    # the per-call lines hold the whole record as fields
    records = {line["request_id"]: line for line in lines if "outcome" in line}
    assert set(records) == {e.request_id for e in run.calls if e.status != 401}
    failover = records[run.by_name("failover").request_id]
    assert failover["level"] == "INFO" and failover["logger"] == "edge.call_log"
    assert (failover["endpoint"], failover["model"], failover["status"]) == ("chat", "vm", 200)
    assert failover["route"] == "alpha/m=429,beta/m=200" and failover["attempts"] == 2
    assert failover["hops"][0]["key"] == "alpha#1"
    assert failover["hops"][0]["message"] == "Rate limit on key ***"
    assert failover["client"] == "client#1" and failover["provider"] == "beta"
    cut = records[run.by_name("cut").request_id]
    assert (cut["level"], cut["outcome"]) == ("WARNING", "cut")
    assert any(line["message"].startswith("baton is serving on ") for line in lines)
