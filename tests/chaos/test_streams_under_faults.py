"""Chaos: streams cut and stalled mid-way, under load. Each client gets either the whole
answer or an explicit error event, never a silently short stream; and rounds of it leak no
task, socket or memory (open descriptors, live tasks and RSS come back to where they were)."""

import json
import os
import random
from collections import Counter

import httpx2
import trio

from edge.simulator import Complete, Cut, Stall, by_model
from tests.e2e.harness import CLIENT_KEY, gateway_config, start_gateway, start_upstreams

TEXT = "one two three four five six seven eight nine ten"
ANSWER = Complete(TEXT, chunks=10, chunk_delay=0.01)
STREAMS_PER_ROUND = 150
ROUNDS = 3


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def live_tasks() -> int:
    def count(task: trio.lowlevel.Task) -> int:
        return 1 + sum(
            count(child) for nursery in task.child_nurseries for child in nursery.child_tasks
        )

    return count(trio.lowlevel.current_root_task())


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


async def read_stream(client: httpx2.AsyncClient, model: str) -> str:
    """'whole', 'error' (an explicit error event), or 'short' (what must never happen)."""
    text, done, error = [], False, False
    async with client.stream(
        "POST",
        "/v1/chat/completions",
        headers={"authorization": f"Bearer {CLIENT_KEY}"},
        json={"model": model, "stream": True, "messages": [{"role": "user", "content": "hi"}]},
    ) as reply:
        assert reply.status_code == 200, reply.status_code
        try:
            async for line in reply.aiter_lines():
                if not line.startswith("data: "):
                    continue
                data = line[len("data: ") :]
                if data == "[DONE]":
                    done = True
                    continue
                event = json.loads(data)
                if "error" in event:
                    error = True
                    continue
                for choice in event.get("choices", []):
                    text.append(choice["delta"].get("content") or "")
        except httpx2.RemoteProtocolError:
            pass  # an unterminated body: judged below like any other short stream
    if done and not error and "".join(text) == TEXT:
        return "whole"
    if error and not done:
        return "error"
    return "short"


async def test_cut_and_stalled_streams_end_whole_or_with_an_error_and_leak_nothing() -> None:
    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            upstreams = await start_upstreams(
                nursery,
                alpha=by_model(
                    {
                        "whole": ANSWER,
                        "cut": Cut(after_chunks=4, reply=ANSWER),
                        "reset": Cut(after_chunks=4, reply=ANSWER, reset=True),
                        "stall": Stall(after_chunks=4, reply=ANSWER),
                    }
                ),
            )
            document = gateway_config(upstreams, timeouts={"idle": 1, "first_byte": 2})
            gateway = await start_gateway(nursery, document, upstreams)
            chooser = random.Random(7)
            seen: Counter[tuple[str, str]] = Counter()
            marks = []
            for _ in range(ROUNDS):
                limits = httpx2.Limits(max_connections=None, max_keepalive_connections=None)
                async with httpx2.AsyncClient(
                    base_url=gateway.url, limits=limits, timeout=30
                ) as client:

                    async def one(model: str, client: httpx2.AsyncClient = client) -> None:
                        seen[(model, await read_stream(client, model))] += 1

                    async with trio.open_nursery() as streams:
                        for _ in range(STREAMS_PER_ROUND):
                            model = chooser.choice(["whole", "cut", "reset", "stall"])
                            streams.start_soon(one, f"alpha/{model}")
                await trio.sleep(0.3)  # let the gateway's side of each connection wind down
                marks.append((open_descriptors(), live_tasks(), rss_kib()))
            nursery.cancel_scope.cancel()
    outcomes = Counter(outcome for (_, outcome) in seen.elements())
    assert outcomes["short"] == 0, seen
    assert {outcome for (model, outcome) in seen if model == "alpha/whole"} == {"whole"}
    for broken in ("alpha/cut", "alpha/reset", "alpha/stall"):
        assert {outcome for (model, outcome) in seen if model == broken} <= {"error"}, seen
    (fds1, tasks1, rss1), *_, (fds3, tasks3, rss3) = marks
    assert fds3 <= fds1 + 5, marks
    assert tasks3 <= tasks1 + 2, marks
    assert rss3 <= rss1 + 20 * 1024, marks  # a round's worth of garbage at most, not a leak
