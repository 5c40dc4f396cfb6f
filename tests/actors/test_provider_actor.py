"""The provider actor as an actor: attempts go in as messages and come back on their reply
channel; the requester's cancellation reaches the upstream; a stopped, crashed or restarted
actor fails its attempts over instead of hanging them."""

from __future__ import annotations

import json

import pytest
import trio
import trio.testing

from actors.exchange import Exchange
from actors.messages import (
    AttemptFailed,
    AttemptStreaming,
    AttemptSucceeded,
    StreamBroke,
    StreamEnded,
)
from actors.provider import ProviderActor
from protocols.failures import FailureClass
from tests.actors.provider_rig import (
    COMPLETION,
    DONE,
    END_CHUNKED,
    ROLE,
    SECRET,
    SSE_HEAD,
    STREAM,
    TIMEOUTS,
    USAGE,
    Recorded,
    attempt,
    chunk,
    http_reply,
    provider,
    read_all,
    running,
    sse_chunk,
)
from tests.actors.raw_upstream import Peer, answering, start_upstream


async def test_a_whole_reply_comes_back_and_the_request_is_what_the_upstream_expects(
    nursery: trio.Nursery,
) -> None:
    with trio.fail_after(5):
        upstream = await start_upstream(nursery, answering(http_reply(COMPLETION)))
        config = provider(upstream.url + "/v1", headers={"x-tenant": "t1"}, max_connections=1)
        async with running(config) as actor:
            outcomes = [await actor.attempt(attempt()) for _ in range(2)]
    assert [type(outcome) for outcome in outcomes] == [AttemptSucceeded, AttemptSucceeded]
    assert isinstance(outcomes[0], AttemptSucceeded) and outcomes[0].body == COMPLETION
    assert upstream.connections == 1  # kept alive between the two (one shard of one)
    sent = Recorded.of(upstream.requests[0])
    assert sent.head.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert sent.header(b"authorization") == b"Bearer " + SECRET.encode()
    assert sent.header(b"content-type") == b"application/json"
    assert sent.header(b"accept-encoding") == b"identity"
    assert sent.header(b"x-tenant") == b"t1"
    assert json.loads(sent.body)["model"] == "m"  # the target's model, not the virtual one


async def test_a_stream_commits_then_flows_with_its_usage(nursery: trio.Nursery) -> None:
    body = b"".join(sse_chunk(event) for event in [*STREAM, USAGE, DONE]) + END_CHUNKED
    with trio.fail_after(5):
        upstream = await start_upstream(nursery, answering(SSE_HEAD + body))
        async with running(provider(upstream.url)) as actor:
            outcome = await actor.attempt(attempt(stream=True))
            assert isinstance(outcome, AttemptStreaming)
            assert outcome.first == ROLE + STREAM[1]  # held back until the first content
            data, end = await read_all(outcome)
            assert end == StreamEnded()
            usage = outcome.upstream.usage
            assert usage is not None and (usage.input, usage.output) == (3, 2)
            assert await outcome.upstream.next_event() == end  # the end, again if asked
    assert data == b"".join(STREAM)  # usage was not asked for by the client: stripped
    sent = json.loads(Recorded.of(upstream.requests[0]).body)
    assert sent["stream_options"] == {"include_usage": True}


async def test_cancelling_the_requester_closes_the_upstream_connection(
    nursery: trio.Nursery,
) -> None:
    closed = trio.Event()

    async def silent(peer: Peer) -> None:
        await peer.read_request()
        await peer.wait_eof()
        closed.set()

    with trio.fail_after(5):
        upstream = await start_upstream(nursery, silent)
        async with running(provider(upstream.url)) as actor:
            with trio.move_on_after(0.1) as waiting:
                await actor.attempt(attempt())
            assert waiting.cancelled_caught
            await closed.wait()  # the attempt was cancelled where it stood, inside the actor


async def test_closing_a_committed_stream_closes_the_upstream_connection(
    nursery: trio.Nursery,
) -> None:
    closed = trio.Event()

    async def endless(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(SSE_HEAD + sse_chunk(ROLE + chunk({"content": "x"})))
        await peer.wait_eof()
        closed.set()

    with trio.fail_after(5):
        upstream = await start_upstream(nursery, endless)
        async with running(provider(upstream.url)) as actor:
            outcome = await actor.attempt(attempt(stream=True))
            assert isinstance(outcome, AttemptStreaming)
            await outcome.upstream.aclose()
            await closed.wait()


async def test_an_actor_that_is_not_running_fails_at_once_and_checkpoints() -> None:
    actor = ProviderActor(provider("http://127.0.0.1:9/v1"), TIMEOUTS)
    with trio.fail_after(1):
        outcome = await actor.attempt(attempt())
    assert isinstance(outcome, AttemptFailed)
    assert outcome.failure.failure is FailureClass.SERVER
    with trio.CancelScope() as scope:
        scope.cancel()
        with pytest.raises(trio.Cancelled):
            await actor.attempt(attempt())  # even its fast path is a checkpoint


async def test_an_actor_stopped_mid_attempt_fails_it_over_and_can_be_run_again(
    nursery: trio.Nursery,
) -> None:
    async def hang_once(peer: Peer) -> None:
        if peer.upstream.connections == 1:
            await peer.read_request()
            await peer.wait_eof()
        else:
            await answering(http_reply(COMPLETION))(peer)

    with trio.fail_after(5):
        upstream = await start_upstream(nursery, hang_once)
        actor = ProviderActor(provider(upstream.url), TIMEOUTS)
        outcomes: list[object] = []
        async with trio.open_nursery() as callers:
            async with trio.open_nursery() as system:
                await system.start(actor.run)
                callers.start_soon(_append, outcomes, actor)
                await upstream_saw(upstream, 1)
                system.cancel_scope.cancel()  # the actor stops with the attempt in flight
        assert len(outcomes) == 1 and isinstance(outcomes[0], AttemptFailed)
        assert outcomes[0].failure.failure is FailureClass.SERVER
        assert not actor.running

        async with trio.open_nursery() as system:  # a supervisor runs it again
            await system.start(actor.run)
            assert isinstance(await actor.attempt(attempt()), AttemptSucceeded)
            system.cancel_scope.cancel()


async def test_a_stream_whose_actor_stops_ends_broken(nursery: trio.Nursery) -> None:
    async def endless(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(SSE_HEAD + sse_chunk(ROLE + chunk({"content": "x"})))
        await peer.wait_eof()

    with trio.fail_after(5):
        upstream = await start_upstream(nursery, endless)
        actor = ProviderActor(provider(upstream.url), TIMEOUTS)
        async with trio.open_nursery() as system:
            await system.start(actor.run)
            outcome = await actor.attempt(attempt(stream=True))
            system.cancel_scope.cancel()
        assert isinstance(outcome, AttemptStreaming)
        _, end = await read_all(outcome)
        assert isinstance(end, StreamBroke)
        assert end.failure.failure is FailureClass.SERVER


async def test_a_bug_in_one_attempt_fails_it_over_and_the_actor_carries_on(
    nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch
) -> None:
    perform = Exchange.perform
    calls = 0

    async def buggy(self: Exchange, *args: object) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("a bug")
        await perform(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Exchange, "perform", buggy)
    with trio.fail_after(5):
        upstream = await start_upstream(nursery, answering(http_reply(COMPLETION)))
        async with running(provider(upstream.url)) as actor:
            first = await actor.attempt(attempt())
            second = await actor.attempt(attempt())
            assert actor.running
    assert isinstance(first, AttemptFailed) and first.failure.failure is FailureClass.SERVER
    assert isinstance(second, AttemptSucceeded)


async def test_attempts_run_side_by_side(nursery: trio.Nursery) -> None:
    release = trio.Event()

    async def slow(peer: Peer) -> None:
        while await peer.read_request() is not None:
            await release.wait()
            await peer.send(http_reply(COMPLETION))

    with trio.fail_after(5):
        upstream = await start_upstream(nursery, slow)
        async with running(provider(upstream.url)) as actor:
            outcomes: list[object] = []
            async with trio.open_nursery() as calls:
                for _ in range(5):
                    calls.start_soon(_append, outcomes, actor)
                await upstream_saw(upstream, 5)  # all five in flight at once
                release.set()
    assert [type(outcome) for outcome in outcomes] == [AttemptSucceeded] * 5
    assert upstream.connections == 5


async def _append(outcomes: list[object], actor: ProviderActor) -> None:
    outcomes.append(await actor.attempt(attempt()))


async def upstream_saw(upstream: object, requests: int) -> None:
    while len(upstream.requests) < requests:  # type: ignore[attr-defined]
        await trio.sleep(0.005)


async def test_max_connections_bounds_the_connections_and_the_rest_wait(
    nursery: trio.Nursery,
) -> None:
    release = trio.Event()

    async def slow(peer: Peer) -> None:
        while await peer.read_request() is not None:
            await release.wait()
            await peer.send(http_reply(COMPLETION))

    with trio.fail_after(5):
        upstream = await start_upstream(nursery, slow)
        async with running(provider(upstream.url, max_connections=2)) as actor:
            outcomes: list[object] = []
            async with trio.open_nursery() as calls:
                for _ in range(4):
                    calls.start_soon(_append, outcomes, actor)
                await upstream_saw(upstream, 2)
                await trio.testing.wait_all_tasks_blocked(0.05)
                assert (upstream.connections, len(upstream.requests)) == (2, 2)
                release.set()
    assert [type(outcome) for outcome in outcomes] == [AttemptSucceeded] * 4
    assert upstream.connections == 2
