"""Two `baton serve --workers 2` processes on one real Redis act as one gateway: the fleet's
rate window, cooldowns, key concurrency and stored responses; and a Redis that goes away and
comes back costs no call."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import trio
import yaml

from edge.simulator import Complete, Error, SimRequest, Simulator, always
from tests.e2e.harness import (
    CLIENT_KEY,
    free_port,
    gateway_config,
    serve_command,
    start_upstreams,
    until_healthy,
)
from tests.redis_server import redis_server

HI = [{"role": "user", "content": "hi"}]


@asynccontextmanager
async def fleet(
    tmp_path: Path, upstreams: dict[str, Simulator], url: str, **config: Any
) -> AsyncIterator[list[httpx2.AsyncClient]]:
    """Two instances of two workers each, on `url`; a client for each."""
    document = gateway_config(upstreams, **config)
    document["state"] = url
    document["cluster"] = "test-fleet"
    path = tmp_path / "baton.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    processes = []
    clients = []
    try:
        for name in ("a", "b"):
            port = await free_port()
            log = (tmp_path / f"{name}.log").open("wb")
            command = serve_command(path, port, tmp_path / f"state-{name}", "--workers", "2")
            process = await trio.lowlevel.open_process(
                command, stdout=log, stderr=subprocess.STDOUT
            )
            processes.append((process, log))
            client = httpx2.AsyncClient(
                base_url=f"http://127.0.0.1:{port}",
                headers={"authorization": f"Bearer {CLIENT_KEY}"},
                timeout=30,
            )
            clients.append(client)
        for client in clients:
            await until_healthy(client)
        yield clients
    finally:
        for client in clients:
            await client.aclose()
        for process, log in processes:
            process.send_signal(signal.SIGTERM)
            with trio.move_on_after(20):
                await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()
            log.close()


async def chat(client: httpx2.AsyncClient, model: str, **fields: Any) -> httpx2.Response:
    return await client.post(
        "/v1/chat/completions", json={"model": model, "messages": HI, **fields}
    )


async def test_the_fleet_spends_a_keys_minute_once(tmp_path: Path) -> None:
    """rpm 60 on one key, 200 requests over both instances: the upstream sees at most 60."""
    with trio.fail_after(90):
        async with redis_server() as redis, trio.open_nursery() as nursery:
            upstreams = await start_upstreams(nursery, alpha=always(Complete("ok")))
            async with fleet(
                tmp_path,
                upstreams,
                redis.url,
                providers={"alpha": {"limits": {"rpm": 60}}},
                timeouts={"total": 3},
            ) as clients:
                statuses: list[int] = []

                broken: list[str] = []

                async def sender(number: int) -> None:
                    for turn in range(25):
                        try:
                            reply = await chat(clients[(number + turn) % 2], "alpha/m")
                        except httpx2.TransportError as exc:  # said below, with the logs
                            broken.append(f"{'ab'[(number + turn) % 2]}: {exc!r}")
                            return
                        statuses.append(reply.status_code)
                        await trio.sleep(0.04)

                async with trio.open_nursery() as senders:
                    for number in range(8):
                        senders.start_soon(sender, number)
                for _ in range(50):  # each worker learns the fleet's size at its heartbeat
                    stats = [(await client.get("/stats")).json() for client in clients]
                    if all(s["state"]["instances"] == 4 for s in stats):
                        break
                    await trio.sleep(0.1)
            nursery.cancel_scope.cancel()
    logs = "".join(
        f"--- {name}.log\n" + (tmp_path / f"{name}.log").read_text()[-4000:] for name in "ab"
    )
    assert not broken, (broken[:3], logs)
    assert len(statuses) == 200
    assert len(upstreams["alpha"].calls) <= 60
    assert statuses.count(200) == len(upstreams["alpha"].calls) >= 55  # the minute was used
    assert set(statuses) <= {200, 429}
    assert {s["state"]["backend"] for s in stats} == {"redis"}
    assert all(s["state"]["up"] and s["state"]["instances"] == 4 for s in stats)
    assert stats[0]["instance"] != stats[1]["instance"]


async def test_what_one_instance_reads_of_an_upstreams_count_paces_the_other(
    tmp_path: Path,
) -> None:
    """Instance a's reply says the key has 1 request left for 120 s; instance b, which never
    saw it, then gets four calls at once: it sends one to the upstream and fails the other
    three over, rather than sending all four into the upstream's last request (three 429s)."""
    metered_calls = 0

    def metered(request: SimRequest) -> Any:
        nonlocal metered_calls
        metered_calls += 1
        left = 2 - metered_calls
        if left < 0:
            return Error.rate_limited(retry_after=120)
        headers = {
            "x-ratelimit-limit-requests": "2",
            "x-ratelimit-remaining-requests": str(left),
            "x-ratelimit-reset-requests": "120s",
        }
        return Complete("metered", delay=0.5, headers=headers)

    with trio.fail_after(90):
        async with redis_server() as redis, trio.open_nursery() as nursery:
            upstreams = await start_upstreams(
                nursery, metered=metered, gamma=always(Complete("gamma"))
            )
            async with fleet(
                tmp_path,
                upstreams,
                redis.url,
                virtual_models={"vm": ["metered/m", "gamma/m"]},
                timeouts={"total": 20, "first_byte": 5},
            ) as (a, b):
                first = await chat(a, "vm")
                replies: list[httpx2.Response] = []

                async def call() -> None:
                    replies.append(await chat(b, "vm"))

                async with trio.open_nursery() as crowd:
                    for _ in range(4):
                        crowd.start_soon(call)
            nursery.cancel_scope.cancel()
    assert first.headers["x-baton-route"] == "metered/m=200"
    assert [reply.status_code for reply in replies] == [200] * 4
    routes = sorted(reply.headers["x-baton-route"] for reply in replies)
    assert metered_calls == 2, routes  # a's one, and the one b had left
    assert routes == ["metered/m=200"] + ["metered/m=full,gamma/m=200"] * 3


async def test_cooldowns_responses_and_key_slots_are_the_fleets(tmp_path: Path) -> None:
    beta_calls = 0

    def beta(request: SimRequest) -> Any:
        nonlocal beta_calls
        beta_calls += 1
        return Error.rate_limited(retry_after=30) if beta_calls == 1 else Complete("beta")

    with trio.fail_after(90):
        async with redis_server() as redis, trio.open_nursery() as nursery:
            upstreams = await start_upstreams(
                nursery,
                beta=beta,
                gamma=always(Complete("gamma")),
                slow=always(Complete("slow", delay=1.0)),
            )
            async with fleet(
                tmp_path,
                upstreams,
                redis.url,
                virtual_models={"vm": ["beta/m", "gamma/m"]},
                providers={"slow": {"max_concurrent_per_key": 2}},
                timeouts={"total": 20, "first_byte": 5},
            ) as (a, b):
                first = await chat(a, "vm")
                after = await chat(b, "vm")
                made = await a.post("/v1/responses", json={"model": "gamma/m", "input": "one"})
                later = await b.post(
                    "/v1/responses",
                    json={
                        "model": "gamma/m",
                        "input": "two",
                        "previous_response_id": made.json()["id"],
                    },
                )
                fetched = await b.get(f"/v1/responses/{made.json()['id']}")
                started = trio.current_time()
                slow_statuses: list[int] = []

                async def slow_call(client: httpx2.AsyncClient) -> None:
                    slow_statuses.append((await chat(client, "slow/m")).status_code)

                async with trio.open_nursery() as crowd:
                    for index in range(6):
                        crowd.start_soon(slow_call, (a, b)[index % 2])
                elapsed = trio.current_time() - started
            nursery.cancel_scope.cancel()
    assert first.headers["x-baton-route"] == "beta/m=429,gamma/m=200"
    # the 429 on instance a cooled the key for instance b too: b never called beta
    assert after.headers["x-baton-route"] == "beta/m=cooling,gamma/m=200"
    assert beta_calls == 1
    # a response stored by a continues on b, and b serves it
    assert later.status_code == 200, later.text
    gamma_inputs = [call.json["messages"] for call in upstreams["gamma"].calls]
    assert any(m.get("content") == "one" for m in gamma_inputs[-1]), gamma_inputs[-1]
    assert fetched.status_code == 200 and fetched.json()["id"] == made.json()["id"]
    # two slots of the slow key across four workers: six 1 s calls take three rounds
    assert slow_statuses == [200] * 6
    assert elapsed >= 2.8, elapsed


async def test_redis_away_and_back_costs_no_call(tmp_path: Path) -> None:
    with trio.fail_after(90):
        async with redis_server() as redis, trio.open_nursery() as nursery:
            upstreams = await start_upstreams(nursery, alpha=always(Complete("ok")))
            async with fleet(
                tmp_path,
                upstreams,
                redis.url,
                providers={"alpha": {"limits": {"rpm": 1000}}},
            ) as (a, b):
                before = [(await chat(client, "alpha/m")).status_code for client in (a, b)] * 3
                await redis.stop()
                during = []
                for _ in range(10):
                    for client in (a, b):
                        during.append((await chat(client, "alpha/m")).status_code)
                down = (await a.get("/stats")).json()["state"]
                metrics = (await a.get("/metrics")).text
                await redis.start()
                await trio.sleep(1.5)  # the next look at Redis, a second after the last
                after = []
                for _ in range(5):
                    for client in (a, b):
                        after.append((await chat(client, "alpha/m")).status_code)
                back = [(await client.get("/stats")).json()["state"] for client in (a, b)]
            nursery.cancel_scope.cancel()
    assert before == during[:6] == after[:6] == [200] * 6
    assert during == [200] * 20 and after == [200] * 10
    assert down["up"] is False and down["outages"] >= 1
    assert 'baton_state_backend_up{backend="redis"} 0.0' in metrics
    assert all(state["up"] for state in back)
    logs = (tmp_path / "a.log").read_text() + (tmp_path / "b.log").read_text()
    assert "WARNING" in logs
