"""How the provider actor reaches its upstream: TLS with a private CA (`ca_bundle`), HTTP/2 by
ALPN (`http2: true`), and outbound proxies, per provider (`proxy:`) or from the environment
(`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`)."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trustme

from actors.messages import AttemptFailed, AttemptSucceeded
from edge.simulator import Simulator
from protocols.failures import FailureClass
from tests.actors.provider_rig import SECRET, attempt, provider, running
from tests.actors.upstream_servers import ForwardProxy, RecordingApp, ca_file, serve_app

AUTH = f"Bearer {SECRET}"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(autouse=True)
def no_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


async def test_https_with_a_private_ca(
    nursery: trio.Nursery, ca: trustme.CA, tmp_path: Path
) -> None:
    app = RecordingApp()
    with trio.fail_after(10):
        url = await serve_app(nursery, app, ca, tmp_path)
        config = provider(url + "/v1", ca_bundle=ca_file(ca, tmp_path))
        async with running(config) as actor:
            outcome = await actor.attempt(attempt())
    assert isinstance(outcome, AttemptSucceeded)
    assert app.seen == [("1.1", "/v1/chat/completions", AUTH)]  # no h2 unless asked


async def test_http2_when_the_provider_asks_and_the_upstream_agrees(
    nursery: trio.Nursery, ca: trustme.CA, tmp_path: Path
) -> None:
    app = RecordingApp()
    with trio.fail_after(10):
        url = await serve_app(nursery, app, ca, tmp_path)
        config = provider(url + "/v1", ca_bundle=ca_file(ca, tmp_path), http2=True)
        async with running(config) as actor:
            outcomes = [await actor.attempt(attempt()) for _ in range(3)]
    assert all(isinstance(outcome, AttemptSucceeded) for outcome in outcomes)
    assert app.seen == [("2", "/v1/chat/completions", AUTH)] * 3


async def test_an_untrusted_certificate_is_a_connect_failure(
    nursery: trio.Nursery, ca: trustme.CA, tmp_path: Path
) -> None:
    app = RecordingApp()
    with trio.fail_after(10):
        url = await serve_app(nursery, app, ca, tmp_path)
        async with running(provider(url + "/v1")) as actor:  # the system's CAs only
            outcome = await actor.attempt(attempt())
    assert isinstance(outcome, AttemptFailed)
    assert outcome.failure.failure is FailureClass.CONNECT
    assert "not trusted" in outcome.failure.message
    assert app.seen == []


async def test_a_providers_own_proxy(nursery: trio.Nursery) -> None:
    with trio.fail_after(10):
        sim = Simulator()
        await nursery.start(sim.serve)
        proxy = await ForwardProxy().start(nursery)
        proxy_url = proxy.url.replace("http://", "http://user:sk-proxy-SECRET@")
        async with running(provider(sim.base_url, proxy=proxy_url)) as actor:
            outcome = await actor.attempt(attempt())
    assert isinstance(outcome, AttemptSucceeded)
    [head] = proxy.heads
    assert head.startswith(f"POST {sim.base_url}/chat/completions HTTP/1.1".encode())
    assert b"proxy-authorization: basic " in head.lower()  # the proxy's own credentials
    assert [call.api_key for call in sim.calls] == [SECRET]


async def test_http_proxy_from_the_environment(
    nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch
) -> None:
    with trio.fail_after(10):
        sim = Simulator()
        await nursery.start(sim.serve)
        proxy = await ForwardProxy().start(nursery)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        async with running(provider(sim.base_url)) as actor:
            outcome = await actor.attempt(attempt())
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        async with running(provider(sim.base_url)) as actor:
            bypassed = await actor.attempt(attempt())
    assert isinstance(outcome, AttemptSucceeded) and isinstance(bypassed, AttemptSucceeded)
    assert len(proxy.heads) == 1  # the second went straight: NO_PROXY names the host
    assert len(sim.calls) == 2


async def test_https_proxy_from_the_environment_tunnels_and_never_sees_the_key(
    nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch, ca: trustme.CA, tmp_path: Path
) -> None:
    app = RecordingApp()
    with trio.fail_after(10):
        url = await serve_app(nursery, app, ca, tmp_path)
        proxy = await ForwardProxy().start(nursery)
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        async with running(provider(url + "/v1", ca_bundle=ca_file(ca, tmp_path))) as actor:
            outcome = await actor.attempt(attempt())
    assert isinstance(outcome, AttemptSucceeded)
    [head] = proxy.heads
    assert head.startswith(f"CONNECT {url.removeprefix('https://')} ".encode())
    assert SECRET.encode() not in head
    assert app.seen == [("1.1", "/v1/chat/completions", AUTH)]
