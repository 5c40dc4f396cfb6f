"""Hostile upstreams, end to end (issue 12): an upstream that echoes the key, nests without
end, sends too much, bombs with gzip, never ends a line, or redirects.

A chain `alpha/m -> beta/m` where alpha misbehaves and beta serves: before the commit point
each case fails over to beta; after it (mid-stream) the client gets the protocol's own error
event. Nothing the upstream sends may put the key in front of the client or on disk.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import trio

from edge.simulator import Complete, Drip, Error, Garbage, Reply, always
from protocols.sse import SSEDecoder
from tests.e2e.harness import launch
from tests.e2e.test_responses_native import native_events

CHAIN = {"vm": ["alpha/m", "beta/m"]}
TIMEOUTS = {"first_byte": 2, "idle": 2}
KEY = "sk-hostile-echo-Qw8Rt5Yu1Io4Pa"
DEEP = b"[" * 200_000
CONTENT = (
    b'data: {"id":"1","object":"chat.completion.chunk","created":1,"model":"m","choices":'
    b'[{"index":0,"delta":{"content":"partial"},"finish_reason":null}]}\n\n'
)
BODY = {"model": "vm", "messages": [{"role": "user", "content": "hi"}]}


async def call(alpha: Reply, *, stream: bool, data_dir: Path | None = None, **config: Any):
    """One call through the chain; the raw response, its body and the /stats document."""
    async with trio.open_nursery() as nursery:
        gateway = await launch(
            nursery,
            {"alpha": always(alpha), "beta": always(Complete("from beta"))},
            virtual_models=CHAIN,
            timeouts=TIMEOUTS,
            keys={"alpha": [KEY]},
            data_dir=data_dir,
            **config,
        )
        async with gateway.http() as http:
            response = await http.post("/v1/chat/completions", json={**BODY, "stream": stream})
            stats = (await http.get("/stats")).text
        nursery.cancel_scope.cancel()
    return response, stats, gateway


def served_by_beta(response: Any, stream: bool) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["x-baton-provider"] == "beta"
    if stream:
        events = [e.data for e in SSEDecoder().feed(response.content)]
        assert events[-1] == "[DONE]"
        text = "".join(
            json.loads(e)["choices"][0]["delta"].get("content") or ""
            for e in events[:-1]
            if json.loads(e)["choices"]
        )
        assert text == "from beta"
    else:
        assert response.json()["choices"][0]["message"]["content"] == "from beta"


def in_band_error(response: Any) -> dict[str, Any]:
    """The error event that ended a committed stream from alpha (after alpha's own text)."""
    assert response.status_code == 200
    assert response.headers["x-baton-provider"] == "alpha"
    events = [e.data for e in SSEDecoder().feed(response.content)]
    assert "[DONE]" not in events
    first, *_, last = events
    assert json.loads(first)["choices"][0]["delta"]["content"] == "partial"
    return json.loads(last)["error"]


# --- 1. an upstream that echoes the key in its error -------------------------------------


ECHO = {
    "error": {
        "message": f"Incorrect API key provided: {KEY}. Authorization: Bearer {KEY}",
        "type": f"invalid_request_error {KEY}",
        "param": f"Bearer {KEY}",
        "code": KEY,
    }
}


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
async def test_a_key_echoed_in_a_4xx_never_reaches_the_client_or_the_disk(
    stream: bool, tmp_path: Path
) -> None:
    with trio.fail_after(10):
        response, stats, _ = await call(Error(400, body=ECHO), stream=stream, data_dir=tmp_path)
    assert response.status_code == 400
    assert response.headers["x-baton-route"] == "alpha/m=400"
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] is None and error["param"] == "Bearer ***"
    assert error["message"].startswith("Incorrect API key provided: ***")
    for piece in (KEY, KEY[:12], KEY[-8:]):
        assert piece not in response.text
        assert piece not in str(response.headers)
        assert piece not in stats
    with sqlite3.connect(tmp_path / "telemetry.sqlite3") as db:
        rows = db.execute("SELECT * FROM calls").fetchall()
    assert rows and KEY[-8:] not in repr(rows) and KEY[:12] not in repr(rows)


async def test_a_key_echoed_in_an_error_event_mid_stream_is_scrubbed(tmp_path: Path) -> None:
    echo = json.dumps(ECHO).encode()
    with trio.fail_after(10):
        response, stats, _ = await call(
            Garbage(CONTENT + b"data: " + echo + b"\n\n"), stream=True, data_dir=tmp_path
        )
    error = in_band_error(response)
    assert error["code"] == "server" and "***" in error["message"]
    for piece in (KEY[:12], KEY[-8:]):
        assert piece not in response.text and piece not in stats
    with sqlite3.connect(tmp_path / "telemetry.sqlite3") as db:
        rows = db.execute("SELECT * FROM calls").fetchall()
    assert rows and KEY[-8:] not in repr(rows)


# --- 2. deep nesting ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alpha", "stream"),
    [
        (Garbage(DEEP, content_type="application/json"), False),
        (Garbage(b"data: " + DEEP + b"\n\n"), True),
        (Garbage(b'data: {"choices":' + DEEP + b"\n\n"), True),
    ],
    ids=["json", "sse", "sse-in-object"],
)
async def test_a_deeply_nested_reply_is_malformed_and_fails_over(
    alpha: Reply, stream: bool
) -> None:
    with trio.fail_after(10):
        response, _, _ = await call(alpha, stream=stream)
    served_by_beta(response, stream)
    assert response.headers["x-baton-route"] == "alpha/m=malformed,beta/m=200"


async def test_a_deeply_nested_event_mid_stream_ends_with_an_error_event() -> None:
    with trio.fail_after(10):
        response, _, gateway = await call(
            Garbage(CONTENT + b"data: " + DEEP + b"\n\n"), stream=True
        )
    error = in_band_error(response)
    assert error["code"] == "malformed"
    assert gateway.upstreams["beta"].calls == []


# --- 3. bounded bodies and decompression ------------------------------------------------

HUGE = b'{"choices": [], "padding": "' + b"x" * (2 * 1024 * 1024) + b'"}'
BOMB = gzip.compress(b"\0" * (64 << 20), compresslevel=9)  # 64 MiB in about 64 KiB
GZIPPED = {"content-encoding": "gzip"}  # though baton asked for identity


@pytest.mark.parametrize(
    ("alpha", "stream"),
    [
        (Garbage(HUGE, content_type="application/json"), False),
        (
            Garbage(BOMB, content_type="application/json", headers={"content-encoding": "gzip"}),
            False,
        ),
        (Garbage(BOMB, headers=GZIPPED), True),
        (Garbage(BOMB, headers={"content-encoding": "br"}), True),
    ],
    ids=["huge", "gzip-bomb", "gzip-bomb-sse", "br"],
)
async def test_a_reply_past_the_bounds_is_malformed_and_fails_over(
    alpha: Reply, stream: bool
) -> None:
    with trio.fail_after(10):
        response, _, _ = await call(
            alpha, stream=stream, providers={"alpha": {"max_response_bytes": 1024 * 1024}}
        )
    served_by_beta(response, stream)
    assert response.headers["x-baton-route"] == "alpha/m=malformed,beta/m=200"


# --- 4. an endless event-stream line -----------------------------------------------------

ENDLESS = b"data: " + b"x" * (2 * 1024 * 1024)  # then neither a newline nor an end


async def test_an_endless_line_fails_over_at_the_event_bound_not_the_idle_timeout() -> None:
    with trio.fail_after(10):
        started = trio.current_time()
        response, _, _ = await call(Garbage(ENDLESS, hold=True), stream=True)
        assert trio.current_time() - started < TIMEOUTS["idle"]
    served_by_beta(response, True)
    assert response.headers["x-baton-route"] == "alpha/m=malformed,beta/m=200"


async def test_an_endless_line_mid_stream_ends_with_an_error_event() -> None:
    with trio.fail_after(10):
        started = trio.current_time()
        response, _, gateway = await call(Garbage(CONTENT + ENDLESS, hold=True), stream=True)
        assert trio.current_time() - started < TIMEOUTS["idle"]
    error = in_band_error(response)
    assert error["code"] == "malformed" and "max_event_bytes" in error["message"]
    assert gateway.upstreams["beta"].calls == []


# --- 8. redirects ------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_redirect_fails_over_and_is_never_followed(status: int, stream: bool) -> None:
    # alpha redirects to itself, where it would be asked again: baton must not follow
    redirect = Error(status, body=b"", headers={"location": "/v1/chat/completions"})
    with trio.fail_after(10):
        response, _, gateway = await call(redirect, stream=stream)
    served_by_beta(response, stream)
    assert response.headers["x-baton-route"] == f"alpha/m={status},beta/m=200"
    assert len(gateway.upstreams["alpha"].calls) == 1


@pytest.mark.parametrize(
    "bad", [DEEP, b"x" * (2 * 1024 * 1024)], ids=["deeply-nested", "over-max-event-bytes"]
)
async def test_a_bad_event_mid_responses_stream_ends_with_response_failed(bad: bytes) -> None:
    whole = native_events("partial")
    sent = whole[: whole.index(b"event: response.output_item.done")]  # committed, not finished
    alpha = Garbage(sent + b"event: response.output_text.delta\ndata: " + bad + b"\n\n")
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {"alpha": always(alpha), "beta": always(Complete("never"))},
                virtual_models=CHAIN,
                timeouts=TIMEOUTS,
                providers={"alpha": {"kind": "openai-responses"}},
            )
            async with gateway.http() as http:
                response = await http.post(
                    "/v1/responses", json={"model": "vm", "input": "hi", "stream": True}
                )
            nursery.cancel_scope.cancel()
    assert response.status_code == 200
    events = [e.event for e in SSEDecoder().feed(response.content)]
    assert "response.output_text.delta" in events
    assert events[-1] == "response.failed" and "response.completed" not in events
    assert gateway.upstreams["beta"].calls == []


# -- drip-feeds and resets: bytes that keep a connection busy without making progress ----------

SSE_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n"


@pytest.mark.parametrize("stream", [False, True])
async def test_a_head_dripped_a_byte_at_a_time_fails_over_at_first_byte(stream: bool) -> None:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 9\r\n\r\n"
    with trio.fail_after(10):
        response, _, _ = await call(Drip(head, interval=0.1), stream=stream)
    served_by_beta(response, stream)
    assert response.headers["x-baton-route"] == "alpha/m=timeout,beta/m=200"


@pytest.mark.parametrize("stream", [False, True])
async def test_a_reset_in_the_middle_of_the_head_fails_over(stream: bool) -> None:
    with trio.fail_after(10):
        response, _, _ = await call(
            Drip(b"HTTP/1.1 200 OK\r\ncontent-ty", interval=0, reset=True), stream=stream
        )
    served_by_beta(response, stream)
    assert response.headers["x-baton-route"].startswith("alpha/m=")
    assert response.headers["x-baton-route"] != "alpha/m=200,beta/m=200"


async def test_a_first_event_dripped_a_byte_at_a_time_fails_over_at_first_byte() -> None:
    # a byte every 0.5 s keeps `idle` (2 s) from ever running out between reads; what must
    # run out is `first_byte` (2 s) for the first whole event
    with trio.fail_after(10):
        began = trio.current_time()
        response, _, _ = await call(Drip(CONTENT, interval=0.5, prefix=SSE_HEAD), stream=True)
        took = trio.current_time() - began
    served_by_beta(response, True)
    assert response.headers["x-baton-route"] == "alpha/m=timeout,beta/m=200"
    assert took < 8  # not the call's whole deadline (20 s)


async def test_an_event_dripped_mid_stream_ends_the_stream_at_idle() -> None:
    with trio.fail_after(10):
        response, _, _ = await call(
            Drip(CONTENT, interval=0.5, prefix=SSE_HEAD + CONTENT), stream=True
        )
    error = in_band_error(response)
    assert error["code"] == "timeout"
    assert "no event for 2s" in error["message"]
