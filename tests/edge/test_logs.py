"""Log set-up: the redacting patcher, both formats, and the request id on every line of a
request, its streamed body included (through the real HTTP server)."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime

import httpx2
import pytest
import trio
from loguru import logger
from quart import Response, request
from quart_trio import QuartTrio

from edge import logs
from edge.app import install_error_envelopes
from edge.replies import Reply, StreamReply, respond
from edge.request_ids import RequestIds
from edge.stopping import Stopping
from tests.served_app import serving

UPSTREAM = "sk-upstream-LOGTEST-0123456789"
CLIENT = "client-LOGTEST-key-77"
Capture = Callable[..., io.StringIO]


@pytest.fixture
def capture() -> Iterator[Capture]:
    """`capture(json=...)`: logs.configure onto a StringIO, at DEBUG; undone afterwards."""

    def start(*, json: bool = False, level: str = "DEBUG") -> io.StringIO:
        out = io.StringIO()
        logs.configure(level, json=json, stream=out)
        logs.register_secrets([UPSTREAM, CLIENT])
        return out

    yield start
    logger.remove()
    logger.add(sys.stderr)


def fail_with_secret() -> None:
    try:
        raise ValueError(f"upstream refused {UPSTREAM}")
    except ValueError:
        logger.exception("call failed with key {}", UPSTREAM)


def test_human_lines_are_scrubbed_and_carry_the_request_id(capture: Capture) -> None:
    out = capture()
    logger.info("no request yet, key {}", CLIENT)
    with logger.contextualize(request_id="req_abc"):
        logger.warning("GET /v1/models?key={} with Authorization: Bearer {}", "raw", CLIENT)
        fail_with_secret()
    logger.debug("debug shows at DEBUG")
    text = out.getvalue()
    lines = text.splitlines()
    assert UPSTREAM not in text and CLIENT not in text
    assert UPSTREAM[:12] not in text and UPSTREAM[-8:] not in text
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3} INFO    no request yet, key \*\*\*", lines[0])
    assert lines[1].endswith("WARNING [req_abc] GET /v1/models?key=*** with Authorization: ***")
    assert lines[2].endswith("ERROR   [req_abc] call failed with key ***")
    assert lines[3] == "Traceback (most recent call last):"
    assert "ValueError: upstream refused ***" in lines
    assert lines[-1].endswith("DEBUG   debug shows at DEBUG")


def test_a_level_filters(capture: Capture) -> None:
    out = capture(level="WARNING")
    logger.info("not shown")
    logger.warning("shown")
    assert out.getvalue().count("\n") == 1 and "shown" in out.getvalue()


def test_json_lines_parse_and_hold_the_fields(capture: Capture) -> None:
    out = capture(json=True)
    logger.info("plain {}", "line")
    with logger.contextualize(request_id="my-trace.1"):
        logger.bind(call={"hops": [{"message": f"key {UPSTREAM} refused"}]}, n=3).warning(
            'quote " and newline \n inside'
        )
        fail_with_secret()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == 3
    first, second, third = lines
    assert set(first) == {"time", "level", "message", "logger"}
    assert (first["level"], first["message"], first["logger"]) == ("INFO", "plain line", __name__)
    stamp = datetime.fromisoformat(first["time"].replace("Z", "+00:00"))
    assert first["time"].endswith("Z") and stamp.utcoffset().total_seconds() == 0
    assert second["request_id"] == "my-trace.1"
    assert second["message"] == 'quote " and newline \n inside'
    assert second["call"] == {"hops": [{"message": "key *** refused"}]}
    assert second["n"] == 3
    assert third["request_id"] == "my-trace.1"
    assert third["message"] == "call failed with key ***"
    assert third["exception"].startswith("Traceback (most recent call last):")
    assert "ValueError: upstream refused ***" in third["exception"]
    assert UPSTREAM not in out.getvalue()
    assert not any(name.startswith("_") for line in lines for name in line)


def test_standard_logging_goes_through_the_same_scrubbing(capture: Capture) -> None:
    out = capture(json=True)
    logging.getLogger("some.library").warning("connecting with api_key=%s", UPSTREAM)
    [line] = [json.loads(line) for line in out.getvalue().splitlines()]
    assert line["message"] == "connecting with api_key=***"
    assert line["level"] == "WARNING"


def test_secrets_registered_later_are_scrubbed_too(capture: Capture) -> None:
    out = capture()
    late = "late-registered-secret-value"
    logs.register_secrets([late])
    logger.info("value {}", late)
    assert late not in out.getvalue() and "value ***" in out.getvalue()


# -- the request id through the real server ------------------------------------------------------


class LoggingChunks:
    """A stream body that logs as it is read, long after the handler returned."""

    def __init__(self) -> None:
        self.sent = 0

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        if self.sent == 3:
            raise StopAsyncIteration
        self.sent += 1
        await trio.sleep(0)
        logger.info("chunk {}", self.sent)
        return b"data: %d\n\n" % self.sent

    async def aclose(self) -> None:
        logger.info("stream closed")


def app_with_logging_routes(max_body: int = 1000) -> QuartTrio:
    app = QuartTrio("logs-test")
    app.config["MAX_CONTENT_LENGTH"] = max_body
    install_error_envelopes(app)
    stopping = Stopping(1.0)

    @app.route("/plain", methods=["GET", "POST"])
    async def plain() -> Response:
        logger.info("handling {}", request.path)
        await request.get_data()
        return respond(Reply(200, {"content-type": "text/plain"}, b"ok"), stopping)

    @app.get("/stream")
    async def stream() -> Response:
        logger.info("handling {}", request.path)
        reply = StreamReply(200, {"content-type": "text/event-stream"}, LoggingChunks())
        return respond(reply, stopping)

    return app


async def test_every_line_of_a_request_and_its_stream_carries_its_id(capture: Capture) -> None:
    out = capture(json=True)
    app = app_with_logging_routes()
    with trio.fail_after(10):
        async with serving(app, RequestIds(app.asgi_app)) as served:
            async with httpx2.AsyncClient(base_url=served.url) as client:
                plain = await client.get("/plain")
                stream = await client.get("/stream", headers={"x-request-id": "client.chosen:1"})
                bad = await client.get("/plain", headers={"x-request-id": "bad id"})
    assert stream.content == b"data: 1\n\ndata: 2\n\ndata: 3\n\n"
    assert stream.headers["x-request-id"] == "client.chosen:1"
    assert re.fullmatch(r"req_[0-9a-f]{24}", plain.headers["x-request-id"])
    assert re.fullmatch(r"req_[0-9a-f]{24}", bad.headers["x-request-id"])
    assert plain.headers["x-request-id"] != bad.headers["x-request-id"]
    ids: dict[str, list[str]] = {}
    for line in map(json.loads, out.getvalue().splitlines()):
        if line["message"].startswith(("GET ", "POST ")):
            continue  # the request lines edge.request_ids logs at DEBUG
        ids.setdefault(line.get("request_id"), []).append(line["message"])
    assert ids[plain.headers["x-request-id"]] == ["handling /plain"]
    assert ids["client.chosen:1"] == [
        "handling /stream",
        "chunk 1",
        "chunk 2",
        "chunk 3",
        "stream closed",
    ]
    assert ids[bad.headers["x-request-id"]] == ["handling /plain"]


async def test_a_refused_request_still_gets_an_id(capture: Capture) -> None:
    capture()
    app = app_with_logging_routes(max_body=10)
    with trio.fail_after(10):
        async with serving(app, RequestIds(app.asgi_app)) as served:
            async with httpx2.AsyncClient(base_url=served.url) as client:
                reply = await client.post("/plain", content=b"x" * 100)
    assert reply.status_code == 413
    assert reply.json()["error"]["code"] == "request_too_large"
    assert re.fullmatch(r"req_[0-9a-f]{24}", reply.headers["x-request-id"])
