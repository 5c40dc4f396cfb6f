"""What goes on the wire: the exact request bytes, the target path, the client's own headers."""

from __future__ import annotations

import pytest
import trio

from actors.http_client import HttpClient
from actors.http_client.message import encode_request
from tests.actors.http_client.upstream import OK, answering, start_upstream

HOST = b"host: api.example.com\r\n"


async def test_the_server_receives_exactly_the_request(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        upstream = await start_upstream(nursery, answering(OK))
        async with HttpClient(upstream.url + "/v1/", connect_timeout=5) as client:
            headers = [(b"content-type", b"application/json"), (b"authorization", b"Bearer k")]
            for path in ("chat/completions", "/models"):
                response = await client.request("POST", path, headers, b'{"a": 1}')
                await response.aclose()
            response = await client.request("GET", "models", [(b"x-empty", b"")])
            await response.aclose()
        host = b"host: 127.0.0.1:%d\r\n" % upstream.port
        assert upstream.requests == [
            b"POST /v1/chat/completions HTTP/1.1\r\n" + host + b"content-length: 8\r\n"
            b"accept-encoding: identity\r\ncontent-type: application/json\r\n"
            b'authorization: Bearer k\r\n\r\n{"a": 1}',
            b"POST /v1/models HTTP/1.1\r\n" + host + b"content-length: 8\r\n"
            b"accept-encoding: identity\r\ncontent-type: application/json\r\n"
            b'authorization: Bearer k\r\n\r\n{"a": 1}',
            b"GET /v1/models HTTP/1.1\r\n" + host + b"accept-encoding: identity\r\n"
            b"x-empty: \r\n\r\n",
        ]
        assert upstream.connections == 1


@pytest.mark.parametrize(
    ("base", "path", "target", "host"),
    [
        ("http://h:1/v1", "chat/completions", b"/v1/chat/completions", b"h:1"),
        ("http://h:1/v1/", "/chat/completions", b"/v1/chat/completions", b"h:1"),
        ("http://h", "models", b"/models", b"h"),
        ("http://h:80/", "/", b"/", b"h"),
        ("https://h:443/openai/v1", "responses", b"/openai/v1/responses", b"h"),
        ("https://h:8443", "x?y=1", b"/x?y=1", b"h:8443"),
        ("http://[::1]:9/v1", "x", b"/v1/x", b"[::1]:9"),
    ],
)
def test_target_and_host_from_the_base_url(
    base: str, path: str, target: bytes, host: bytes
) -> None:
    client = HttpClient(base, connect_timeout=1)
    assert client._prefix + path.lstrip("/").encode() == target
    assert client._host_line == b"host: " + host + b"\r\n"


def test_a_base_url_must_be_http_or_https() -> None:
    with pytest.raises(ValueError, match="http or https"):
        HttpClient("ftp://h/", connect_timeout=1)


def test_post_always_has_a_content_length() -> None:
    assert encode_request("POST", b"/x", HOST, [], b"") == (
        b"POST /x HTTP/1.1\r\nhost: api.example.com\r\ncontent-length: 0\r\n"
        b"accept-encoding: identity\r\n\r\n"
    )


def test_callers_accept_encoding_and_host_replace_the_clients() -> None:
    headers = [(b"Accept-Encoding", b"gzip"), (b"Host", b"other.example"), (b"x-a", b"1")]
    assert encode_request("PUT", b"/x", HOST, headers, b"abc") == (
        b"PUT /x HTTP/1.1\r\ncontent-length: 3\r\nAccept-Encoding: gzip\r\n"
        b"Host: other.example\r\nx-a: 1\r\n\r\nabc"
    )


@pytest.mark.parametrize("name", [b"Content-Length", b"transfer-encoding"])
def test_framing_headers_belong_to_the_client(name: bytes) -> None:
    with pytest.raises(ValueError, match=name.decode().lower()):
        encode_request("POST", b"/x", HOST, [(name, b"1")], b"")


async def test_a_closed_client_refuses_requests() -> None:
    with trio.fail_after(5):
        client = HttpClient("http://127.0.0.1:9", connect_timeout=1)
        await client.aclose()
        with pytest.raises(RuntimeError, match="closed"):
            await client.request("GET", "x", [])
