"""`--log-requests`: the folders, files and scrubbing of the request log, its stream tee, and
what it does when the disk cannot keep up."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from loguru import logger

from actors.messages import Hop
from edge import logs, request_log
from edge.incoming import Incoming
from edge.replies import Reply, StreamReply
from edge.request_log import RequestLog, TeeChunks, recording
from tests.edge.pieces import Pieces

SECRET = "sk-reqlog-SECRET-abcdefghij"
CLIENT = "client-reqlog-key-99"


def a_request(request_id: str = "req-1", query: str = "") -> Incoming:
    body = json.dumps({"model": "vm", "messages": [{"role": "user", "content": f"hi {SECRET}"}]})
    return Incoming(
        "POST",
        "/v1/chat/completions",
        query,
        {
            "authorization": f"Bearer {CLIENT}",
            "x-api-key": CLIENT,
            "cookie": "session=1",
            "content-type": "application/json",
            "x-request-id": request_id,
        },
        body.encode(),
        request_id,
    )


def files_under(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): path.read_text()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(autouse=True)
def secrets() -> None:
    logs.register_secrets([SECRET, CLIENT])


async def test_a_call_leaves_its_request_attempts_and_reply(tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with recording(tmp_path) as log:
            assert request_log.active() is log
            trail = log.begin(a_request(query=f"key={CLIENT}&x=1"))
            trail.attempts(
                [
                    Hop("alpha", "m", "429", "alpha#1", "rate_limit", 0.01, f"no {SECRET}"),
                    Hop("beta", "m", "200", "beta#1", latency=0.02),
                ]
            )
            reply = Reply(200, {"content-type": "application/json"}, b'{"ok": true}')
            assert trail.reply(reply) is reply
        assert request_log.active() is None
    [day] = tmp_path.iterdir()
    files = files_under(day)
    assert sorted(files) == ["req-1/attempts.json", "req-1/reply.json", "req-1/request.json"]
    for text in files.values():
        assert SECRET not in text and CLIENT not in text
    request = json.loads(files["req-1/request.json"])
    assert request["method"] == "POST" and request["path"] == "/v1/chat/completions"
    assert request["target"] == "/v1/chat/completions?key=***&x=1"
    assert request["request_id"] == "req-1"
    assert request["headers"]["authorization"] == "***"
    assert request["headers"]["x-api-key"] == "***"
    assert request["headers"]["cookie"] == "***"
    assert request["headers"]["content-type"] == "application/json"
    assert request["body"]["messages"][0]["content"] == "hi ***"
    hops = json.loads(files["req-1/attempts.json"])
    assert [hop["mark"] for hop in hops] == ["429", "200"]
    assert hops[0] == {
        "provider": "alpha",
        "model": "m",
        "mark": "429",
        "key": "alpha#1",
        "failure": "rate_limit",
        "latency": 0.01,
        "message": "no ***",
    }
    assert json.loads(files["req-1/reply.json"]) == {
        "status": 200,
        "headers": {"content-type": "application/json"},
        "body": {"ok": True},
    }


async def test_a_stream_is_kept_as_sent_and_its_farewell_with_it(tmp_path: Path) -> None:
    pieces = Pieces(b"data: one\n\n", f"data: {SECRET}\n\n".encode(), b"data: \xff\n\n")
    with trio.fail_after(10):
        async with recording(tmp_path) as log:
            trail = log.begin(a_request("req-stream"))
            teed = trail.reply(StreamReply(200, {"content-type": "text/event-stream"}, pieces))
            assert isinstance(teed, StreamReply) and isinstance(teed.chunks, TeeChunks)
            assert not hasattr(teed.chunks, "farewell")  # Pieces has none: neither has the tee
            got = [piece async for piece in teed.chunks]
            await teed.chunks.aclose()
            await teed.chunks.aclose()  # a second close writes nothing more
    assert got == [b"data: one\n\n", f"data: {SECRET}\n\n".encode(), b"data: \xff\n\n"]
    assert pieces.close_calls == 2
    [folder] = tmp_path.glob("*/req-stream")
    assert sorted(p.name for p in folder.iterdir()) == ["request.json", "stream.sse"]
    assert (folder / "stream.sse").read_bytes() == b"data: one\n\ndata: ***\n\ndata: \xff\n\n"


class Farewelling(Pieces):
    def farewell(self) -> bytes:
        return b"data: bye\n\n"


async def test_the_tee_keeps_a_farewell_and_records_it(tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with recording(tmp_path) as log:
            trail = log.begin(a_request("req-bye"))
            teed = trail.reply(StreamReply(200, {}, Farewelling(b"data: a\n\n")))
            assert isinstance(teed, StreamReply)
            assert [piece async for piece in teed.chunks] == [b"data: a\n\n"]
            assert teed.chunks.farewell() == b"data: bye\n\n"  # type: ignore[attr-defined]
            await teed.chunks.aclose()
    [stream] = tmp_path.glob("*/req-bye/stream.sse")
    assert stream.read_bytes() == b"data: a\n\ndata: bye\n\n"


async def test_a_reused_id_gets_a_folder_of_its_own_and_dots_stay_inside(tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with recording(tmp_path) as log:
            for request_id in ("same", "same", "same", "..", ".hidden"):
                log.begin(a_request(request_id))
    [day] = tmp_path.iterdir()
    assert {p.name for p in day.iterdir()} == {"_.hidden", "_..", "same", "same-2", "same-3"}
    assert all((day / name / "request.json").is_file() for name in ("same-3", "_.."))


@pytest.fixture
def warnings_out() -> Iterator[io.StringIO]:
    out = io.StringIO()
    logs.configure("WARNING", stream=out)
    yield out
    logger.remove()
    logger.add(sys.stderr)


async def test_an_overloaded_writer_drops_and_counts_and_warns_once(
    tmp_path: Path, warnings_out: io.StringIO
) -> None:
    log = RequestLog(tmp_path, queue_size=3)  # its writer not running: nothing drains
    trails = [log.begin(a_request(f"r{n}")) for n in range(5)]
    trails[0].attempts([])
    assert log.dropped == 3
    assert warnings_out.getvalue().count("request log") == 1
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(log.run)
            log.close()
    assert log.written == 3
    assert sorted(p.name for p in next(tmp_path.iterdir()).iterdir()) == ["r0", "r1", "r2"]
    log.begin(a_request("after-close"))  # the server is stopping: dropped, not raised
    assert log.dropped == 4


async def test_without_a_directory_nothing_is_recorded() -> None:
    async with recording(None) as log:
        assert log is None
        assert request_log.active() is None
