"""TLS and HTTP/2 on the served gateway, end to end: HTTPS with a certificate from a
throwaway CA (`trustme`) and the openai client over it; HTTP/2 by ALPN over TLS and in the
clear (h2c, prior knowledge) for a JSON call and an SSE stream alike; calls multiplexed on one
HTTP/2 connection; a stream given up with RST_STREAM cancels its call, not the connection."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import attrs
import h2.config
import h2.connection
import h2.errors
import h2.events
import httpx2
import openai
import pytest
import trio
import trustme

from edge.simulator import Complete, SimRequest, always
from tests.e2e.harness import CLIENT_KEY, in_thread
from tests.edge.served import AUTH, chat_body, serving

ANSWER = Complete("over a secure line", chunks=3)


@attrs.frozen
class Certificate:
    certfile: str
    keyfile: str
    trust: ssl.SSLContext  # a client context that trusts the throwaway CA


@pytest.fixture
def certificate(tmp_path: Path) -> Certificate:
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    issued.private_key_and_cert_chain_pem.write_to_path(str(certfile))
    issued.private_key_pem.write_to_path(str(keyfile))
    trust = ssl.create_default_context()
    ca.configure_trust(trust)
    return Certificate(str(certfile), str(keyfile), trust)


def root_cause(error: BaseException) -> BaseException:
    while error.__cause__ is not None or error.__context__ is not None:
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    return error


async def test_the_openai_client_over_https(certificate: Certificate) -> None:
    """The synchronous client, in a thread (as tests/e2e does): openai's async streams leave
    async generators for the garbage collector, which trio reports."""
    messages = [{"role": "user", "content": "hi"}]

    def use(url: str) -> tuple[Any, str]:
        with openai.OpenAI(
            base_url=f"{url}/v1",
            api_key=CLIENT_KEY,
            max_retries=0,
            http_client=httpx2.Client(verify=certificate.trust, timeout=10),
        ) as client:
            raw = client.chat.completions.with_raw_response.create(model="vm", messages=messages)
            with client.chat.completions.create(
                model="vm", messages=messages, stream=True
            ) as stream:
                text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
            return raw, text

    with trio.fail_after(15):
        async with serving(
            {"alpha": always(ANSWER)}, certfile=certificate.certfile, keyfile=certificate.keyfile
        ) as served:
            assert served.url.startswith("https://127.0.0.1:")
            raw, streamed = await in_thread(use, served.url)
    assert raw.parse().choices[0].message.content == "over a secure line"
    assert raw.headers["x-baton-route"] == "alpha/m=200"
    assert streamed == "over a secure line"


async def test_a_client_that_does_not_trust_the_certificate_is_refused(
    certificate: Certificate,
) -> None:
    with trio.fail_after(15):
        async with (
            serving(certfile=certificate.certfile, keyfile=certificate.keyfile) as served,
            httpx2.AsyncClient(base_url=served.url) as http,  # the system's CAs only
        ):
            with pytest.raises(httpx2.ConnectError) as refused:
                await http.get("/health")
            assert isinstance(root_cause(refused.value), ssl.SSLCertVerificationError)
            async with httpx2.AsyncClient(
                base_url=served.url, verify=certificate.trust
            ) as trusting:
                assert (await trusting.get("/health")).status_code == 200


async def test_http2_over_tls_for_json_and_a_stream(certificate: Certificate) -> None:
    with trio.fail_after(15):
        async with (
            serving(
                {"alpha": always(ANSWER)},
                certfile=certificate.certfile,
                keyfile=certificate.keyfile,
            ) as served,
            httpx2.AsyncClient(
                base_url=served.url, verify=certificate.trust, http2=True, headers=AUTH
            ) as http,
        ):
            plain = await http.post("/v1/chat/completions", content=chat_body())
            async with http.stream(
                "POST", "/v1/chat/completions", content=chat_body(stream=True)
            ) as streamed:
                pieces = [piece async for piece in streamed.aiter_text()]
    assert (plain.http_version, plain.status_code) == ("HTTP/2", 200)
    assert plain.json()["choices"][0]["message"]["content"] == "over a secure line"
    assert plain.headers["x-request-id"].startswith("req_")
    assert (streamed.http_version, streamed.status_code) == ("HTTP/2", 200)
    assert streamed.headers["content-type"].startswith("text/event-stream")
    body = "".join(pieces)
    assert '"content":"over' in body and body.endswith("data: [DONE]\n\n")


async def test_h2c_with_prior_knowledge_on_the_plain_port() -> None:
    with trio.fail_after(15):
        async with (
            serving({"alpha": always(ANSWER)}) as served,
            httpx2.AsyncClient(base_url=served.url, http1=False, http2=True, headers=AUTH) as http,
        ):
            plain = await http.post("/v1/chat/completions", content=chat_body())
            async with http.stream(
                "POST", "/v1/chat/completions", content=chat_body(stream=True)
            ) as streamed:
                body = "".join([piece async for piece in streamed.aiter_text()])
            many = [await http.post("/v1/chat/completions", content=chat_body()) for _ in range(3)]
    assert (plain.http_version, plain.status_code) == ("HTTP/2", 200)
    assert plain.json()["choices"][0]["message"]["content"] == "over a secure line"
    assert (streamed.http_version, streamed.status_code) == ("HTTP/2", 200)
    assert body.endswith("data: [DONE]\n\n")
    assert [(reply.http_version, reply.status_code) for reply in many] == [("HTTP/2", 200)] * 3


async def test_http2_streams_on_one_connection_run_side_by_side() -> None:
    """Two calls at once on one h2c client: the quick one is answered while the slow one is
    still waiting for its upstream."""

    def script(request: SimRequest) -> Complete:
        slow = request.json["messages"][0]["content"] == "slow"
        return Complete("slow" if slow else "quick", delay=0.5 if slow else 0.0)

    answers: list[str] = []
    with trio.fail_after(15):
        async with (
            serving({"alpha": script}) as served,
            httpx2.AsyncClient(base_url=served.url, http1=False, http2=True, headers=AUTH) as http,
        ):

            async def call(content: str) -> None:
                reply = await http.post("/v1/chat/completions", content=chat_body(content=content))
                answers.append(reply.json()["choices"][0]["message"]["content"])

            async with trio.open_nursery() as nursery:
                nursery.start_soon(call, "slow")
                await served.upstreams["alpha"].wait_for_calls(1)
                nursery.start_soon(call, "quick")
    assert answers == ["quick", "slow"]


class H2Client:
    """Just enough of an HTTP/2 client (h2, prior knowledge) to give up a stream with
    RST_STREAM and keep the connection: httpx2 abandons a closed stream without one."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.h2.initiate_connection()
        self.received: dict[int, bytes] = {}
        self.status: dict[int, int] = {}
        self.ended: set[int] = set()

    async def flush(self) -> None:
        await self.stream.send_all(self.h2.data_to_send())

    async def post(self, path: str, body: bytes) -> int:
        stream_id = self.h2.get_next_available_stream_id()
        headers = [
            (":method", "POST"),
            (":path", path),
            (":scheme", "http"),
            (":authority", "test"),
            *AUTH.items(),
            ("content-type", "application/json"),
        ]
        self.h2.send_headers(stream_id, headers)
        self.h2.send_data(stream_id, body, end_stream=True)
        await self.flush()
        self.received[stream_id] = b""
        return stream_id

    async def until(self, stream_id: int, marker: bytes | None = None) -> bytes:
        """Read frames until `marker` has arrived on the stream (None: until it ends)."""
        while not (
            stream_id in self.ended if marker is None else marker in self.received[stream_id]
        ):
            data = await self.stream.receive_some(65536)
            assert data, "the connection closed"
            for event in self.h2.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    self.status[event.stream_id] = int(dict(event.headers)[b":status"])
                elif isinstance(event, h2.events.DataReceived):
                    self.received[event.stream_id] += event.data
                    self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded | h2.events.StreamReset):
                    self.ended.add(event.stream_id)
            await self.flush()
        return self.received[stream_id]

    async def reset(self, stream_id: int) -> None:
        self.h2.reset_stream(stream_id, h2.errors.ErrorCodes.CANCEL)
        await self.flush()


async def test_an_http2_stream_reset_mid_way_cancels_the_call() -> None:
    """The client gives up one stream with RST_STREAM and keeps its connection: the call is
    cancelled and its upstream request closed, and the connection serves on."""
    slow = Complete("a b c d e f g h", chunks=8, chunk_delay=0.3)
    with trio.fail_after(15):
        async with serving({"alpha": always(slow)}) as served:
            alpha = served.upstreams["alpha"]
            client = H2Client(await trio.open_tcp_stream("127.0.0.1", served.port))
            async with client.stream:
                given_up = await client.post("/v1/chat/completions", chat_body(stream=True))
                await client.until(given_up, b'"content":"a')
                await client.reset(given_up)
                await alpha.wait_for_disconnects(1)
                alpha.script = always(Complete("on the same connection"))
                served_on = await client.post("/v1/chat/completions", chat_body())
                body = await client.until(served_on)
    assert client.status == {given_up: 200, served_on: 200}
    assert b"on the same connection" in body
