"""Request ids and the request log on the Responses API, in-process: each `response.create` on
a WebSocket gets an id of its own, and a Responses stream that commits only after its first
keep-alive still leaves its attempts in the request log."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
import trio
from loguru import logger
from trio_websocket import open_websocket_url

from edge import logs
from edge.request_log import recording
from edge.simulator import Complete, Error, always, sequence
from tests.e2e.harness import CLIENT_KEY, launch
from tests.e2e.test_responses_ws import events_until_terminal, ws_url


@pytest.fixture
def out() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    logs.configure("DEBUG", json=True, stream=stream)
    yield stream
    logger.remove()
    logger.add(sys.stderr)


async def test_each_websocket_turn_gets_its_own_request_id(out: io.StringIO) -> None:
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {"alpha": sequence(Error.rate_limited(), Complete("one"), Complete("two"))},
                virtual_models={"vm": ["alpha/m"]},
                keys={"alpha": ["k1", "k2"]},
            )
            headers = [("authorization", f"Bearer {CLIENT_KEY}"), ("x-request-id", "ws-conn-1")]
            async with open_websocket_url(ws_url(gateway.url), extra_headers=headers) as ws:
                for text in ("one", "two"):
                    await ws.send_message(
                        json.dumps({"type": "response.create", "model": "vm", "input": text})
                    )
                    events = await events_until_terminal(ws)
                    assert events[-1]["type"] == "response.completed"
            nursery.cancel_scope.cancel()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    turns = [line for line in lines if line["message"].startswith("websocket message ")]
    assert [turn["message"] for turn in turns] == [
        "websocket message 0 of connection ws-conn-1",
        "websocket message 1 of connection ws-conn-1",
    ]
    first, second = (turn["request_id"] for turn in turns)
    assert first != second and first.startswith("req_") and second.startswith("req_")
    # the upgrade request itself is named by the client's id
    assert any(
        line["request_id"] == "ws-conn-1" and line["message"] == "GET /v1/responses"
        for line in lines
    )
    # the first turn's failed attempt is logged under the first turn's id
    [attempt] = [line for line in lines if line["message"].startswith("attempt ")]
    assert attempt["message"].startswith("attempt alpha/m with key alpha#1: 429")
    assert attempt["request_id"] == first


async def test_a_late_commit_still_leaves_its_attempts(tmp_path: Path) -> None:
    root = tmp_path / "calls"
    slow = Complete("late but here", delay=0.8)
    with trio.fail_after(20):
        async with recording(root):
            async with trio.open_nursery() as nursery:
                gateway = await launch(
                    nursery,
                    {"alpha": always(Error(503)), "beta": always(slow)},
                    virtual_models={"vm": ["alpha/m", "beta/m"]},
                    timeouts={"keepalive": 0.2, "first_byte": 5},
                )
                async with gateway.http() as client:
                    reply = await client.post(
                        "/v1/responses", json={"model": "vm", "input": "x", "stream": True}
                    )
                nursery.cancel_scope.cancel()
    assert reply.status_code == 200
    assert "x-baton-route" not in reply.headers  # sent before the walk committed
    [folder] = root.glob(f"*/{reply.headers['x-request-id']}")
    hops = json.loads((folder / "attempts.json").read_text())
    assert [(hop["provider"], hop["mark"]) for hop in hops] == [("alpha", "503"), ("beta", "200")]
    stream = (folder / "stream.sse").read_bytes()
    assert stream == reply.content
    assert stream.count(b"event: response.in_progress") >= 2
    assert b"event: response.completed" in stream
    request = json.loads((folder / "request.json").read_text())
    assert request["headers"]["authorization"] == "***"
    assert request["body"] == {"model": "vm", "input": "x", "stream": True}


async def test_every_reply_of_the_api_carries_an_id(tmp_path: Path) -> None:
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery, {"alpha": always(Complete("hi"))}, virtual_models={"vm": ["alpha/m"]}
            )
            async with gateway.http() as client:
                replies = [
                    await client.get("/health"),
                    await client.get("/v1/models"),
                    await client.get("/v1/nothing"),
                    await client.post("/v1/chat/completions", content=b"{"),
                    await client.post(
                        "/v1/chat/completions",
                        json={"model": "vm", "messages": [{"role": "user", "content": "x"}]},
                        headers={"x-request-id": "given-1"},
                    ),
                ]
                async with client.stream(
                    "POST",
                    "/v1/chat/completions",
                    json={
                        "model": "vm",
                        "stream": True,
                        "messages": [{"role": "user", "content": "x"}],
                    },
                ) as streamed:
                    await streamed.aread()
            nursery.cancel_scope.cancel()
    assert [reply.status_code for reply in replies] == [200, 200, 404, 400, 200]
    ids = [reply.headers["x-request-id"] for reply in [*replies, streamed]]
    assert ids[4] == "given-1"
    assert len(set(ids)) == len(ids)
    assert all(one.startswith("req_") for one in ids[:4] + ids[5:])
    assert isinstance(streamed, httpx2.Response)
