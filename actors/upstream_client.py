"""The HTTP clients baton calls upstreams with: httpx2, set up once per provider, and the one
place where what httpx2 raises becomes an `UpstreamFailure`.

A provider's clients (`open_clients`) are owned by its `ProviderActor` for the life of the
system; the health checker has a small one of its own per provider (`open_client`), so a probe
never holds a connection a real call could use.

A provider's pool is sharded into `SHARDS` clients, taken in turn. httpcore2's pool does work
linear in its requests and connections each time a request comes or goes, so one pool with
hundreds of requests in flight spends much of its time there (encode/httpx#3215); measured on
trio against a local upstream, 256 and 512 requests in flight cost about 1.17 ms of CPU each
on one client and about 0.84 ms on four (at 64 in flight the two are within noise).

Every client:

- holds at most its share of `max_connections` connections (`providers.X.max_connections`,
  per process, split across the shards) and keeps as many alive when idle, each for
  `KEEPALIVE` seconds: under the 5 s after which common servers (uvicorn, Hypercorn) close an
  idle connection, so a request is not sent on a connection the server is closing then;
- never follows a redirect: the key in `authorization` must never go to another host, so a 3xx
  comes back as it is and is classified as a failure (`protocols.failures`);
- trusts the environment (`trust_env`): `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`,
  `SSL_CERT_FILE`, `SSL_CERT_DIR`; a provider's own `proxy:` replaces the proxy variables;
- speaks HTTP/2 where the provider says `http2: true` and the upstream agrees by TLS ALPN;
- asks for `identity` bodies, so stream events reach the gate the moment they arrive; a body
  compressed all the same is read raw and decoded in bounded pieces (`decoded_body`,
  `protocols.content_encoding`), never whole by httpx2, so a gzip bomb stays within the caps;
- leaves every timeout but two to trio scopes around each step (the attempt's `first_byte`
  and `idle`, the call's deadline): httpx2 itself bounds only connecting (TCP, proxy tunnel
  and TLS handshake) and waiting for a free connection, both by `timeouts.connect`.

TLS contexts are shared: loading the CA store costs about 1 MB and 25 ms each, so clients
with the same `ca_bundle` use one. They are keyed by `http2` too, because httpcore2 sets the
ALPN protocols on the context itself before each handshake: clients that share a context
then always set the same ones.
"""

from __future__ import annotations

import functools
import ssl
import time
from collections.abc import AsyncGenerator
from urllib.parse import urlsplit, urlunsplit

import attrs
import httpcore2
import httpx2

from actors.messages import Attempt
from config.model import ProviderConfig, Timeouts
from protocols.content_encoding import BodyDecoder, EncodingError
from protocols.failures import FailureClass, UpstreamFailure, UpstreamFault, cut, shown
from protocols.ratelimit_headers import WindowState, window_states

KEEPALIVE = 4.0  # seconds an idle connection is kept for reuse
SHARDS = 4  # clients per provider, taken in turn
PROBE_CONNECTIONS = 2  # a health checker's client: one probe at a time, and a spare


def open_clients(provider: ProviderConfig, timeouts: Timeouts) -> tuple[httpx2.AsyncClient, ...]:
    """A provider's clients: `SHARDS` of them (fewer for a small `max_connections`), whose
    connection limits add up to `max_connections`."""
    limit = provider.max_connections
    shards = min(SHARDS, limit)
    return tuple(
        open_client(provider, timeouts, max_connections=limit // shards + (index < limit % shards))
        for index in range(shards)
    )


def open_client(
    provider: ProviderConfig, timeouts: Timeouts, *, max_connections: int | None = None
) -> httpx2.AsyncClient:
    """A client for `provider`'s upstream (its requests name full URLs: see `endpoint`)."""
    limit = max_connections or provider.max_connections
    headers = {"accept-encoding": "identity", "content-type": "application/json"}
    headers.update(provider.headers)
    return httpx2.AsyncClient(
        headers=headers,
        timeout=httpx2.Timeout(None, connect=timeouts.connect, pool=timeouts.connect),
        limits=httpx2.Limits(
            max_connections=limit, max_keepalive_connections=limit, keepalive_expiry=KEEPALIVE
        ),
        http2=provider.http2,
        proxy=provider.proxy,
        verify=tls_context(provider.ca_bundle, provider.http2),
        trust_env=True,
        follow_redirects=False,
    )


@functools.cache
def tls_context(ca_bundle: str | None, http2: bool) -> ssl.SSLContext:
    """The system's CAs (or `SSL_CERT_FILE`/`SSL_CERT_DIR`), or only those in `ca_bundle`;
    one context per (`ca_bundle`, `http2`): see the module's docstring."""
    if ca_bundle is None:
        return httpcore2.default_ssl_context()
    return ssl.create_default_context(cafile=ca_bundle)


def endpoint(base_url: str, path: str) -> httpx2.URL:
    """`base_url` + `/` + `path`, keeping the base URL's query (`?api-version=...`)."""
    parts = urlsplit(base_url)
    full = parts.path.rstrip("/") + "/" + path.lstrip("/")
    return httpx2.URL(urlunsplit((parts.scheme, parts.netloc, full, parts.query, "")))


async def decoded_body(response: httpx2.Response) -> AsyncGenerator[bytes, None]:
    """`response`'s body, decoded in bounded pieces (see the module's docstring). A coding
    baton cannot decode, or bytes that do not decode, raise `UpstreamFault` (malformed);
    transport errors are left to the reader, who knows whether the reply had begun."""
    try:
        decoder = BodyDecoder(response.headers.get("content-encoding", ""))
        async for raw in response.aiter_raw():
            for piece in decoder.decode(raw):
                yield piece
    except EncodingError as exc:
        raise UpstreamFault(_failure(FailureClass.MALFORMED, str(exc))) from exc


def transport_failure(exc: httpx2.HTTPError, *, after_head: bool) -> UpstreamFailure:
    """What a transport error means for the attempt. `after_head`: the reply had begun, so
    whatever broke cut it off."""
    if isinstance(exc, httpx2.PoolTimeout):
        return _failure(
            FailureClass.TIMEOUT, "no free connection to the upstream (max_connections in use)"
        )
    if isinstance(exc, httpx2.ConnectTimeout):
        return _failure(FailureClass.TIMEOUT, "upstream timed out while connecting")
    if isinstance(exc, httpx2.TimeoutException):
        return _failure(FailureClass.TIMEOUT, f"upstream timed out ({type(exc).__name__})")
    if isinstance(exc, httpx2.ProxyError):
        return _failure(FailureClass.CONNECT, "the proxy could not open a tunnel to the upstream")
    if isinstance(exc, httpx2.ConnectError):
        if _untrusted(exc):
            return _failure(
                FailureClass.CONNECT,
                "could not connect: the upstream's TLS certificate is not trusted",
            )
        return _failure(FailureClass.CONNECT, "could not connect to the upstream")
    if isinstance(exc, httpx2.DecodingError):
        return _failure(FailureClass.MALFORMED, "upstream sent a body that does not decode")
    if after_head:
        return cut("upstream connection was cut mid-reply")
    if isinstance(exc, httpx2.RemoteProtocolError):
        if "disconnected" in str(exc):  # httpcore2: "Server disconnected without sending..."
            return _failure(
                FailureClass.CONNECT, "upstream closed the connection without answering"
            )
        return _failure(FailureClass.MALFORMED, "upstream did not answer in HTTP")
    return _failure(FailureClass.CONNECT, f"upstream transport error ({type(exc).__name__})")


def windows_of(headers: httpx2.Headers) -> tuple[WindowState, ...]:
    """What `headers` say of rate windows. Read from a plain dict (httpx2's `Headers.get` scans
    every header: a quarter of the time here went to that), and only when there is any."""
    fields = dict(headers.items())  # lowercased names, repeated fields joined
    if not any("ratelimit" in name for name in fields):
        return ()
    return window_states(fields, now=time.time())


def scrubbed(failure: UpstreamFailure, attempt: Attempt) -> UpstreamFailure:
    """`failure` fit to show (`protocols.failures.shown`): the attempt's key and anything
    credential-shaped out of every field an upstream filled (an auth failure names the key by
    its alias only)."""
    if failure.failure is FailureClass.AUTH:
        message = (
            f"upstream {attempt.target.provider} rejected key "
            f"{attempt.credential.alias} (HTTP {failure.status})"
        )
        failure = attrs.evolve(failure, message=message)
    return shown(failure, [attempt.credential.secret])


def _untrusted(exc: BaseException) -> bool:
    """Whether a connect error came of a certificate that did not verify (the SSL error sits
    a few causes down: httpx2's, httpcore2's, trio's BrokenResourceError's)."""
    cause: BaseException | None = exc
    for _ in range(6):
        if cause is None:
            return False
        if isinstance(cause, ssl.SSLCertVerificationError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def _failure(kind: FailureClass, message: str) -> UpstreamFailure:
    return UpstreamFailure(kind, message)
