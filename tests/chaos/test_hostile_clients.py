"""Chaos: hostile clients against one served gateway (in this process, 127.0.0.1 only), all at
once: 200 slowloris heads and 200 slow bodies trickled a byte at a time, and 2,000 idle
kept-alive connections (the descriptor limit is raised to hold them, and the test fails rather
than open fewer). While they are all open, the first normal call is answered within 100 ms,
and so is the median of five; every slowloris is cut at the (shortened) header timeout and
every slow body gets its 408 at the body timeout; then everything disconnects at once, twice
over with 200 bodies cut mid-way (what once raised `trio.BusyResourceError` in Hypercorn's
worker and stopped the server), and the gateway serves on with its descriptors back."""

from __future__ import annotations

import gc
import os
import resource
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import trio

from actors.upstream_client import SHARDS
from tests.edge.raw_http import RawClient
from tests.edge.served import Served, chat_request, serving

# long enough that the last bad connection is accepted and the first call made (measured
# 0.75-0.9 s after the first bad one connects) before the first is shed
HEADER_TIMEOUT = 2.0
BODY_TIMEOUT = 2.5
SLOWLORIS = 200
SLOW_BODIES = 200
IDLE = 2000
TRICKLE = 0.2  # seconds between bytes
SLACK = 1.5  # how much later than its timeout a bad connection may be shed


@contextmanager
def descriptors_for(connections: int) -> Iterator[None]:
    """Room for `connections` connections, both of whose ends are in this process (and 300
    descriptors besides): the soft limit raised to the hard one if it is short, and put back
    after. Fails if even the hard limit is short: testing with fewer is not the test."""
    needed = 2 * connections + 300
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        raised = needed if hard == resource.RLIM_INFINITY else hard
        resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
    try:
        limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        assert limit == resource.RLIM_INFINITY or limit >= needed, (
            f"{connections} connections need {needed} descriptors; the limit is {limit} "
            f"(hard {hard}): raise it (ulimit -n {needed})"
        )
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def still_open(client: RawClient) -> bool:
    """Whether the server has neither closed nor reset `client`'s connection."""
    with socket.socket(fileno=os.dup(client.stream.socket.fileno())) as sock:
        try:
            return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
        except BlockingIOError:  # open, nothing to read
            return True
        except ConnectionError:
            return False


def accepted(port: int) -> int:
    """Connections to `port` on 127.0.0.1 its server has accepted (one still in the listen
    queue has no socket inode yet)."""
    count = 0
    for line in Path("/proc/self/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, inode = fields[1], fields[3], fields[9]
        count += int(local.rpartition(":")[2], 16) == port and state == "01" and inode != "0"
    return count


async def until_accepted(port: int, count: int) -> None:
    while accepted(port) < count:
        await trio.sleep(0.05)


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


async def shed_after(
    served: Served, head: bytes, shed: list[tuple[float, bytes]], opened: list[None]
) -> None:
    """Send `head`, then trickle bytes until the server closes; record that the head went
    (in `opened`), and when the connection was shed and what came back (in `shed`)."""
    async with await served.connect() as client:
        start = trio.current_time()
        async with trio.open_nursery() as nursery:

            async def trickle() -> None:
                try:
                    await client.send(head)
                    opened.append(None)
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
    with descriptors_for(IDLE + SLOWLORIS + SLOW_BODIES):
        await hostile_clients()
    gc.collect()  # thousands of connections' garbage, collected now rather than in the next test


async def hostile_clients() -> None:
    server = {
        "header_timeout": HEADER_TIMEOUT,
        "body_timeout": BODY_TIMEOUT,
        "max_connections": IDLE + SLOWLORIS + SLOW_BODIES + 100,
    }
    slowloris_head = b"GET /health HTTP/1.1\r\nHost: test\r\nX-Slow: "
    slow_body_head = chat_request(b"", {"content-length": "100000"})
    loris: list[tuple[float, bytes]] = []
    bodies: list[tuple[float, bytes]] = []
    opened: list[None] = []
    with trio.fail_after(25):
        async with serving(server=server) as served:
            # every upstream client's pooled connection is open, and the first call's costs
            # are paid before the clock starts
            for _ in range(2 * SHARDS):
                await served.assert_serving()
            before = open_descriptors()
            # the server takes a while to accept thousands of connections opened at once
            # (its accept loop shares this process with the clients: 1.5-2 s for all 2,400
            # here), and a call made meanwhile waits its turn in the listen queue (160-170 ms
            # measured). "While they are open" is once it has accepted every one: the idle
            # ones, then the bad ones, while those still trickle.
            idle_clients = [await served.connect() for _ in range(IDLE)]
            await until_accepted(served.port, IDLE)
            async with trio.open_nursery() as nursery:
                for _ in range(SLOWLORIS):
                    nursery.start_soon(shed_after, served, slowloris_head, loris, opened)
                for _ in range(SLOW_BODIES):
                    nursery.start_soon(shed_after, served, slow_body_head, bodies, opened)
                while len(opened) < SLOWLORIS + SLOW_BODIES:  # every head sent
                    await trio.sleep(0.01)
                await until_accepted(served.port, IDLE + SLOWLORIS + SLOW_BODIES)
                first = await normal_call_time(served)
                idle_open = sum(still_open(client) for client in idle_clients)
                shed_yet = len(loris) + len(bodies)
                took = sorted([first] + [await normal_call_time(served) for _ in range(4)])
            assert (idle_open, shed_yet) == (IDLE, 0), (
                "the first call was not made while all were open"
            )
            assert first < 0.1, first  # the first normal call while all of them are open
            assert took[2] < 0.1, took  # and the median of five
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
