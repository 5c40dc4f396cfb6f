"""https: a trio TLS server whose certificate comes from a throwaway trustme CA."""

from __future__ import annotations

import ssl

import pytest
import trio
import trustme

from actors.http_client import ConnectError, HttpClient, default_ssl_context
from tests.actors.http_client.upstream import OK, Peer, answering, start_upstream


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    context.set_alpn_protocols(["http/1.1"])
    return context


@pytest.fixture
def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


async def test_https_request_and_reuse(
    nursery: trio.Nursery, server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    with trio.fail_after(5):
        upstream = await start_upstream(nursery, answering(OK, chunked), tls=server_context)
        async with HttpClient(
            upstream.url + "/v1", connect_timeout=5, ssl_context=client_context
        ) as client:
            bodies = []
            for _ in range(2):
                response = await client.request("POST", "chat/completions", [], b"{}")
                bodies.append(await response.read())
                await response.aclose()
        assert bodies == [b"ok", b"abc"]
        assert upstream.connections == 1
        assert upstream.requests[0].startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")


async def test_https_server_closing_idle_connection(
    nursery: trio.Nursery, server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    async def one_then_close(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(OK)

    with trio.fail_after(5):
        upstream = await start_upstream(nursery, one_then_close, tls=server_context)
        async with HttpClient(upstream.url, connect_timeout=5, ssl_context=client_context) as c:
            for _ in range(2):
                response = await c.request("POST", "x", [], b"")
                assert await response.read() == b"ok"
                await response.aclose()
                connection = c._idle[-1]
                while not connection.socket.is_readable():  # the server's close arrives
                    await trio.sleep(0.001)
        assert upstream.connections == 2


async def test_an_untrusted_certificate_is_a_connect_error(
    nursery: trio.Nursery, server_context: ssl.SSLContext
) -> None:
    with trio.fail_after(5):
        upstream = await start_upstream(nursery, answering(OK), tls=server_context)
        async with HttpClient(upstream.url, connect_timeout=5) as client:  # certifi's CAs
            with pytest.raises(ConnectError, match="certificate verify failed"):
                await client.request("GET", "x", [])


def test_the_default_context_verifies_and_offers_http_1_1() -> None:
    context = default_ssl_context()
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert default_ssl_context() is context
