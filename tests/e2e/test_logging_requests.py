"""`baton serve --log-requests DIR` as a user runs it: a folder per call with its request,
its attempts and its reply or stream (the very bytes the client got), and no secret in any
file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import trio

from tests.e2e.test_logging import CLIENT, Run, check_replies, leaked, run_gateway


def folders(root: Path) -> dict[str, Path]:
    [day] = root.iterdir()
    assert len(day.name) == 10 and day.name[4] == "-" and day.name[7] == "-", day.name
    return {folder.name: folder for folder in day.iterdir()}


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


async def test_each_call_leaves_a_folder_and_no_secret(tmp_path: Path) -> None:
    root = tmp_path / "calls"
    with trio.fail_after(120):
        run: Run = await run_gateway(tmp_path, "--log-requests", str(root), "--log-json")
    check_replies(run)
    found = folders(root)
    # every POST of a call has its folder, the refused ones included; GET /health has none
    assert set(found) == {exchange.request_id for exchange in run.calls}
    for path in root.rglob("*"):
        if path.is_file():
            assert leaked(path.read_text(errors="replace")) == [], path
    for exchange in run.calls:
        folder = found[exchange.request_id]
        names = sorted(path.name for path in folder.iterdir())
        request = read_json(folder / "request.json")
        assert request["request_id"] == exchange.request_id
        assert request["method"] == "POST"
        assert request["body"]["model"] in ("beta/m", "vm", "cut")
        credential = request["headers"].get("authorization") or request["headers"]["x-api-key"]
        assert credential == "***"
        if exchange.status == 401:  # refused before any walk: no attempts
            assert names == ["reply.json", "request.json"], exchange.name
        elif exchange.headers["content-type"].startswith("text/event-stream"):
            assert names == ["attempts.json", "request.json", "stream.sse"], exchange.name
            # the stream, as the client got it
            assert (folder / "stream.sse").read_bytes() == exchange.body, exchange.name
        else:
            assert names == ["attempts.json", "reply.json", "request.json"], exchange.name
        if "reply.json" in names:
            reply = read_json(folder / "reply.json")
            assert reply["status"] == exchange.status
            assert reply["body"] == json.loads(exchange.body)
            assert reply["headers"]["content-type"] == "application/json"
        if "attempts.json" in names:
            hops = read_json(folder / "attempts.json")
            route = ",".join(f"{hop['provider']}/{hop['model']}={hop['mark']}" for hop in hops)
            assert route == exchange.headers["x-baton-route"], exchange.name

    failover = read_json(found[run.by_name("failover").request_id] / "attempts.json")
    assert failover[0]["key"] == "alpha#1" and failover[0]["failure"] == "rate_limit"
    assert failover[0]["message"] == "Rate limit on key ***"  # the echoed key, scrubbed
    assert failover[1]["key"] == "beta#1" and failover[1]["latency"] > 0
    cut = (found[run.by_name("cut").request_id] / "stream.sse").read_bytes()
    assert b'data: {"error"' in cut and b"[DONE]" not in cut
    responses = (found[run.by_name("responses stream").request_id] / "stream.sse").read_text()
    assert "event: response.completed" in responses
    messages = (found[run.by_name("messages stream").request_id] / "stream.sse").read_text()
    assert messages.startswith("event: message_start") and "event: message_stop" in messages
    messages_request = read_json(found[run.by_name("messages").request_id] / "request.json")
    assert messages_request["target"] == "/v1/messages?beta=true"
    assert messages_request["headers"]["x-api-key"] == "***"
    query = read_json(found[run.by_name("key in the query").request_id] / "request.json")
    assert query["target"] == "/v1/chat/completions?key=***&api_key=***"
    wrong = read_json(found[run.by_name("wrong key").request_id] / "request.json")
    assert wrong["headers"]["authorization"] == "***"
    assert CLIENT not in json.dumps(wrong)
