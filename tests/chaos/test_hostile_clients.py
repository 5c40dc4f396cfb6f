"""Chaos: hostile clients against one served gateway (in this process, 127.0.0.1 only), all at
once: 200 slowloris heads and 200 slow bodies trickled a byte at a time, and up to 2,000 idle
kept-alive connections (fewer if the descriptor limit cannot hold them). While they are open a
normal call is answered quickly; every slowloris is cut at the (shortened) header timeout and
every slow body gets its 408 at the body timeout; then everything disconnects at once, twice
over with 200 bodies cut mid-way (what once raised `trio.BusyResourceError` in Hypercorn's
worker and stopped the server), and the gateway serves on with its descriptors back."""

from __future__ import annotations

import gc
import os
import resource

import trio

from actors.upstream_client import SHARDS
from tests.edge.raw_http import RawClient
from tests.edge.served import Served, chat_request, serving

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.5
SLOWLORIS = 200
SLOW_BODIES = 200
IDLE_WANTED = 2000
TRICKLE = 0.2  # seconds between bytes
SLACK = 1.5  # how much later than its timeout a bad connection may be shed


def idle_count() -> int:
    """As many idle connections as the descriptor limit allows (both ends are in this
    process), raising the soft limit to the hard one first."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    spare = (soft - 300) // 2 - SLOWLORIS - SLOW_BODIES
    return max(0, min(IDLE_WANTED, spare))


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


async def shed_after(served: Served, head: bytes, shed: list[tuple[float, bytes]]) -> None:
    """Send `head`, then trickle bytes until the server closes; record when and what came."""
    async with await served.connect() as client:
        start = trio.current_time()
        async with trio.open_nursery() as nursery:

            async def trickle() -> None:
                try:
                    await client.send(head)
                    while True:
                        await trio.sleep(TRICKLE)
                        await client.send(b"a")
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass

            nursery.start_soon(trickle)
            received = await client.rest()
            nursery.cancel_scope.cancel()
        shed.append((trio.current_time() - start, received))


async def normal_call_time(served: Served) -> float:
    start = trio.current_time()
    await served.assert_serving()
    return trio.current_time() - start


async def cut_mid_body_all_at_once(served: Served, count: int) -> None:
    """`count` clients each send a head and half a body, then all close at once."""
    body_head = chat_request(b"", {"content-length": "1000"})
    clients: list[RawClient] = []
    try:
        for _ in range(count):
            client = await served.connect()
            clients.append(client)
            await client.send(body_head + b'{"model":"vm","messages":[')
        await trio.sleep(0.3)
    finally:
        for client in clients:
            client.stream.socket.close()  # no await between them: all at once


async def test_hostile_clients_are_shed_and_the_gateway_serves_on() -> None:
    idle = idle_count()
    server = {
        "header_timeout": HEADER_TIMEOUT,
        "body_timeout": BODY_TIMEOUT,
        "max_connections": idle + SLOWLORIS + SLOW_BODIES + 100,
    }
    slowloris_head = b"GET /health HTTP/1.1\r\nHost: test\r\nX-Slow: "
    slow_body_head = chat_request(b"", {"content-length": "100000"})
    loris: list[tuple[float, bytes]] = []
    bodies: list[tuple[float, bytes]] = []
    with trio.fail_after(25):
        async with serving(server=server) as served:
            for _ in range(2 * SHARDS):  # every upstream client's pooled connection is open
                await served.assert_serving()
            before = open_descriptors()
            idle_clients = [await served.connect() for _ in range(idle)]
            async with trio.open_nursery() as nursery:
                for _ in range(SLOWLORIS):
                    nursery.start_soon(shed_after, served, slowloris_head, loris)
                for _ in range(SLOW_BODIES):
                    nursery.start_soon(shed_after, served, slow_body_head, bodies)
                await trio.sleep(0.5)  # every bad connection is open and trickling
                took = sorted([await normal_call_time(served) for _ in range(5)])
            assert took[2] < 0.1, took  # the median of five normal calls
            assert len(loris) == SLOWLORIS and len(bodies) == SLOW_BODIES
            assert max(when for when, _ in loris) < HEADER_TIMEOUT + SLACK
            assert all(received == b"" for _, received in loris)
            assert max(when for when, _ in bodies) < BODY_TIMEOUT + SLACK
            assert all(received.startswith(b"HTTP/1.1 408") for _, received in bodies)

            await served.assert_serving()  # the idle ones are still open, still allowed
            for client in idle_clients:
                client.stream.socket.close()  # all at once
            for _ in range(2):
                await cut_mid_body_all_at_once(served, SLOW_BODIES)
                await served.assert_serving()
            with trio.move_on_after(3):
                while open_descriptors() > before:
                    await trio.sleep(0.05)
            assert open_descriptors() <= before
            await served.assert_serving()
    gc.collect()  # thousands of connections' garbage, collected now rather than in the next test
