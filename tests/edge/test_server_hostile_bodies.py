"""Request bodies a hostile client sends, against the served gateway: JSON that Python's own
decoder would take but no upstream should see (a lone surrogate, `NaN`, `Infinity`, numbers
past a double) is a 400 `invalid_request_error` on every call route, never a 500 and never
forwarded; a request framed by both `Content-Length` and `Transfer-Encoding` is refused and its
connection closed, so a request smuggled behind it is never answered."""

from __future__ import annotations

import pytest
import trio

from tests.edge.raw_http import raw_request
from tests.edge.served import AUTH, chat_request, serving

HOSTILE = {
    "lone-surrogate": b'{"model":"vm","messages":[{"role":"user","content":"\\ud800"}]}',
    "lone-low-surrogate": b'{"model":"vm","messages":[{"role":"user","content":"a\\udc00b"}]}',
    "nan": b'{"model":"vm","messages":[{"role":"user","content":"hi"}],"temperature":NaN}',
    "infinity": b'{"model":"vm","messages":[{"role":"user","content":"hi"}],"top_p":Infinity}',
    "minus-infinity": b'{"model":"vm","messages":[{"role":"user","content":"hi"}],"x":-Infinity}',
    "past-a-double": b'{"model":"vm","messages":[{"role":"user","content":"hi"}],"x":1e999}',
}
RESPONSES = {
    "lone-surrogate": b'{"model":"vm","input":"\\ud800"}',
    "nan": b'{"model":"vm","input":"hi","temperature":NaN}',
    "infinity": b'{"model":"vm","input":"hi","temperature":Infinity}',
}


@pytest.mark.parametrize("body", HOSTILE.values(), ids=HOSTILE.keys())
async def test_hostile_json_in_a_chat_request_is_a_400(body: bytes) -> None:
    with trio.fail_after(10):
        async with serving() as served:
            async with await served.connect() as client:
                await client.send(chat_request(body))
                reply = await client.reply()
            assert served.upstreams["alpha"].calls == []
            await served.assert_serving()
    assert reply.status == 400, reply.raw
    error = reply.envelope()
    assert error["type"] == "invalid_request_error"
    assert "not valid JSON" in error["message"]


@pytest.mark.parametrize("body", RESPONSES.values(), ids=RESPONSES.keys())
async def test_hostile_json_in_a_responses_request_is_a_400(body: bytes) -> None:
    fields = {**AUTH, "content-type": "application/json"}
    with trio.fail_after(10):
        async with serving() as served:
            async with await served.connect() as client:
                await client.send(raw_request("POST", "/v1/responses", fields, body))
                reply = await client.reply()
            assert served.upstreams["alpha"].calls == []
    assert reply.status == 400, reply.raw
    assert reply.envelope()["type"] == "invalid_request_error"


SMUGGLED = b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n"


@pytest.mark.parametrize(
    "head",
    [
        "content-length: 5\r\ntransfer-encoding: chunked\r\n",
        "transfer-encoding: chunked\r\ncontent-length: 5\r\n",
        "content-length: 0\r\ntransfer-encoding: chunked\r\n",
    ],
    ids=["length-first", "chunked-first", "zero-length"],
)
async def test_a_request_with_length_and_chunked_is_refused_and_nothing_smuggled(
    head: str,
) -> None:
    """The body as chunked ends after `0\\r\\n\\r\\n`; read by its length it would end
    elsewhere. Either way the connection is refused and closed: the request behind it is
    never answered."""
    auth = f"authorization: {AUTH['authorization']}\r\n"
    request = (
        f"POST /v1/chat/completions HTTP/1.1\r\nhost: test\r\n{auth}{head}\r\n".encode()
        + b"0\r\n\r\n"
        + SMUGGLED
    )
    with trio.fail_after(10):
        async with serving() as served:
            async with await served.connect() as client:
                await client.send(request)
                reply = await client.reply()
                rest = await client.rest()
            assert served.upstreams["alpha"].calls == []
            await served.assert_serving()
    assert (reply.status, reply.headers["connection"]) == (400, "close")
    assert rest == b""  # no second reply: the smuggled request was not read
