"""A connection closing while a reply is being written (`edge.connections`, repair 4).

Hypercorn's trio worker half-closes a connection (`send_eof`) outside its write lock. Here the
app answers `Connection: close` before reading the body, and the client sends its body and
more bytes at once: h11 refuses the bytes after the body, Hypercorn closes from the reading
task, and that close met the app's reply write: `trio.BusyResourceError`, the reply lost (and,
raised in the reading task, the whole server stopped). With the repair nothing is raised and
every reply's head is written whole. (The close still comes before the reply's body: Hypercorn
closes on h11's refusal of the bytes behind the request without waiting for the reply, which
is why `edge.framing` reads a refused request's body before it answers.)"""

from __future__ import annotations

import logging
from typing import Any

import pytest
import trio
from hypercorn.trio.run import worker_serve
from hypercorn.utils import wrap_app

from edge.connections import EdgeConfig, use_closing_tcp_server
from tests.edge.raw_http import RawClient

ROUNDS = 60
REQUEST = (
    b"POST / HTTP/1.1\r\nhost: test\r\ncontent-length: 5\r\n\r\nhello"
    + b"GET / HTTP/1.1\r\nhost: test\r\n\r\n"
)


async def answer_at_once(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        raise RuntimeError("no lifespan")
    headers = [(b"connection", b"close"), (b"content-length", b"2")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok", "more_body": False})


async def test_a_close_racing_a_reply_raises_nothing(caplog: pytest.LogCaptureFixture) -> None:
    use_closing_tcp_server()
    config = EdgeConfig()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            urls = await nursery.start(
                lambda task_status: worker_serve(
                    wrap_app(answer_at_once, config.wsgi_max_body_size, "asgi"),
                    config,
                    task_status=task_status,
                )
            )
            port = int(urls[0].rpartition(":")[2])
            replies = []
            for _ in range(ROUNDS):
                async with await RawClient.connect(port) as client:
                    await client.send(REQUEST)
                    replies.append(await client.rest())
            nursery.cancel_scope.cancel()
    assert all(reply.startswith(b"HTTP/1.1 200") for reply in replies)
    assert not [record for record in caplog.records if record.exc_info], caplog.text
