"""The health checker's probes on httpx2: a client of the checker's own per provider, bounded
to a couple of connections, never following a redirect, and every transport failure mapped
the way the provider actor maps it."""

from __future__ import annotations

import pytest
import trio
import yaml

from actors.health import HealthChecker, ProbePlan, ProbeResult
from actors.upstream_client import PROBE_CONNECTIONS
from config import Config, load_text
from protocols.failures import FailureClass
from tests.actors.provider_rig import http_reply
from tests.actors.raw_upstream import Peer, answering, start_upstream
from tests.actors.test_health_checker import pools_for


async def checker_for(nursery: trio.Nursery, url: str) -> tuple[HealthChecker, ProbePlan]:
    """A checker over a running pool (and its rate tracker) for one provider at `url`."""
    document = {
        "health": {"interval": 10, "timeout": 1},
        "providers": {"a": {"base_url": url, "keys": ["a-key"], "models": ["m"]}},
    }
    config: Config = load_text(yaml.safe_dump(document), env={}).config
    pools = pools_for(config)
    for pool in pools.values():
        assert pool.tracker is not None
        await nursery.start(pool.tracker.run)
        await nursery.start(pool.run)
    checker = HealthChecker(config, pools)
    [plan] = checker.plans()
    return checker, plan


async def probe(checker: HealthChecker, plan: ProbePlan) -> ProbeResult | None:
    """One probe round, the checker's client closed after it (as `run` does when it stops)."""
    try:
        return await checker.probe_once(plan)
    finally:
        await checker._client(plan).aclose()


async def test_a_probe_that_is_redirected_fails_and_its_key_stays_home(
    nursery: trio.Nursery,
) -> None:
    with trio.fail_after(5):
        elsewhere = await start_upstream(nursery, answering(http_reply(b'{"data": []}')))
        location = f"location: {elsewhere.url}/v1/models\r\n".encode()
        upstream = await start_upstream(
            nursery, answering(http_reply(b"", status=301, extra=location))
        )
        checker, plan = await checker_for(nursery, upstream.url + "/v1")
        result = await probe(checker, plan)
    assert result is not None and result.failure is not None
    assert (result.failure.failure, result.failure.status) == (FailureClass.SERVER, 301)
    assert elsewhere.requests == []
    assert upstream.requests[0].startswith(b"GET /v1/models HTTP/1.1\r\n")


@pytest.mark.parametrize(
    ("reply", "kind"),
    [(b"not HTTP\r\n\r\n", FailureClass.MALFORMED), (b"", FailureClass.CONNECT)],
    ids=["garbage", "closed"],
)
async def test_transport_failures_are_classified(
    nursery: trio.Nursery, reply: bytes, kind: FailureClass
) -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(reply)

    with trio.fail_after(5):
        upstream = await start_upstream(nursery, handler)
        checker, plan = await checker_for(nursery, upstream.url + "/v1")
        result = await probe(checker, plan)
    assert result is not None and result.failure is not None
    assert result.failure.failure is kind


async def test_probes_have_a_small_client_of_their_own(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        upstream = await start_upstream(nursery, answering(http_reply(b'{"data": []}')))
        checker, plan = await checker_for(nursery, upstream.url + "/v1")
        for _ in range(3):
            result = await checker.probe_once(plan)
            assert result is not None and result.failure is None
        client = checker._client(plan)
        assert client._transport._pool._max_connections == PROBE_CONNECTIONS  # type: ignore[attr-defined]
        await client.aclose()
    assert upstream.connections == 1  # the probes reuse one connection
