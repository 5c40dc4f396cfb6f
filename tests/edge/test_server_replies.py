"""What every reply of the served gateway carries, whatever it is: a bug in a route is a 500
`internal_error` envelope with its traceback logged once (and the gateway serves on), a call
that was never routed carries no empty provenance headers, and every reply, the WebSocket
handshake included, names its request by `x-request-id`."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
from collections.abc import Iterator

import pytest
import trio
from loguru import logger

from edge import logs
from protocols.chat import ChatRequest
from tests.e2e.harness import websocket
from tests.edge.raw_http import raw_request
from tests.edge.served import AUTH, chat_body, chat_request, serving

FRESH = re.compile(r"req_[0-9a-f]{24}")


@pytest.fixture
def log() -> Iterator[io.StringIO]:
    """baton's own JSON log lines (as `baton serve --log-json` writes them) for the test."""
    stream = io.StringIO()
    logs.configure("DEBUG", json=True, stream=stream)
    yield stream
    logger.remove()
    logger.add(sys.stderr)


async def test_a_bug_in_a_route_is_a_500_envelope_and_the_gateway_serves_on(
    monkeypatch: pytest.MonkeyPatch, log: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    parse = ChatRequest.from_body.__func__  # type: ignore[attr-defined]

    def from_body(cls: type[ChatRequest], body: bytes) -> ChatRequest:
        chat = parse(cls, body)
        if chat.model == "boom":
            raise RuntimeError("a bug in a route")
        return chat

    monkeypatch.setattr(ChatRequest, "from_body", classmethod(from_body))
    with trio.fail_after(10):
        async with serving() as served:
            async with await served.connect() as client:
                await client.send(chat_request(chat_body("boom")))
                reply = await client.reply()
                await client.send(chat_request())  # the same connection serves on
                after = await client.reply()
            await served.assert_serving()
            assert len(served.upstreams["alpha"].calls) == 2  # never the broken call
    assert reply.status == 500
    assert reply.envelope() == {
        "message": "internal gateway error",
        "type": "server_error",
        "param": None,
        "code": "internal_error",
    }
    assert b"a bug in a route" not in reply.raw
    assert FRESH.fullmatch(reply.headers["x-request-id"])
    assert after.status == 200
    lines = [json.loads(line) for line in log.getvalue().splitlines()]
    [error] = [line for line in lines if line["level"] == "ERROR"]  # logged once
    assert error["message"] == "unhandled error serving POST /v1/chat/completions"
    assert error["request_id"] == reply.headers["x-request-id"]
    assert error["exception"].startswith("Traceback (most recent call last):")
    assert error["exception"].rstrip().endswith("RuntimeError: a bug in a route")
    assert sum("a bug in a route" in json.dumps(line) for line in lines) == 1
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []  # not Hypercorn's


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", chat_body("no-such-model")),
        ("/v1/chat/completions", chat_body("nobody/m")),
        ("/v1/responses", b'{"model": "no-such-model", "input": "hi"}'),
    ],
    ids=["chat-unknown-model", "chat-unknown-provider", "responses-unknown-model"],
)
async def test_a_call_never_routed_has_no_empty_provenance(path: str, body: bytes) -> None:
    with trio.fail_after(10):
        async with serving() as served, await served.connect() as client:
            await client.send(
                raw_request("POST", path, {**AUTH, "content-type": "application/json"}, body)
            )
            reply = await client.reply()
    assert reply.status == 404, reply.raw
    assert reply.envelope()["code"] == "model_not_found"
    assert not any(name.startswith("x-baton-") for name in reply.headers), reply.headers


async def test_a_routed_call_carries_its_provenance() -> None:
    with trio.fail_after(10):
        async with serving() as served, await served.connect() as client:
            await client.send(chat_request())
            reply = await client.reply()
    assert {name: value for name, value in reply.headers.items() if "baton" in name} == {
        "x-baton-attempts": "1",
        "x-baton-route": "alpha/m=200",
        "x-baton-provider": "alpha",
        "x-baton-model": "m",
    }


@pytest.mark.parametrize(
    "request_bytes",
    [
        raw_request("GET", "/health", {"x-request-id": "{}"}),
        chat_request(headers={"x-request-id": "{}"}),
        chat_request(chat_body(stream=True), {"x-request-id": "{}"}),
        raw_request("GET", "/v1/nothing-here", {**AUTH, "x-request-id": "{}"}),
        chat_request(chat_body("no-such-model"), {"x-request-id": "{}"}),
    ],
    ids=["health", "call", "stream", "no-route", "unknown-model"],
)
@pytest.mark.parametrize(
    ("given", "kept"),
    [("client.trace-7:a_B", True), ("x" * 129, False), ("has space", False)],
    ids=["sane", "too-long", "space"],
)
async def test_every_reply_names_its_request(request_bytes: bytes, given: str, kept: bool) -> None:
    """Kept when sane, else replaced (the rules themselves: tests/edge/test_redaction.py)."""
    with trio.fail_after(10):
        async with serving() as served, await served.connect() as client:
            await client.send(request_bytes.replace(b"{}", given.encode()))
            reply = await client.reply()
    sent_back = reply.headers["x-request-id"]
    if kept:
        assert sent_back == given
    else:
        assert FRESH.fullmatch(sent_back), sent_back


async def test_a_reply_without_a_client_id_gets_a_fresh_one_each_time() -> None:
    with trio.fail_after(10):
        async with serving() as served, await served.connect() as client:
            ids = []
            for _ in range(3):
                await client.send(chat_request())
                ids.append((await client.reply()).headers["x-request-id"])
    assert all(FRESH.fullmatch(one) for one in ids)
    assert len(set(ids)) == 3


@pytest.mark.parametrize(("given", "kept"), [("ws-conn.1", True), ("bad id", False)])
async def test_the_websocket_handshake_names_its_request(given: str, kept: bool) -> None:
    headers = [("authorization", AUTH["authorization"]), ("x-request-id", given)]
    with trio.fail_after(10):
        async with (
            serving() as served,
            websocket(served.port, "/v1/responses", extra_headers=headers) as socket,
        ):
            create = {"type": "response.create", "model": "vm", "input": "hi", "store": False}
            await socket.send_message(json.dumps(create))
            first = json.loads(await socket.get_message())
            handshake = {name.decode(): value.decode() for name, value in socket.handshake_headers}
    assert first["type"] == "response.created"
    if kept:
        assert handshake["x-request-id"] == given
    else:
        assert FRESH.fullmatch(handshake["x-request-id"]), handshake
