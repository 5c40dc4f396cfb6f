"""Fault injection through a real gateway: a bug in one call's walk, in the supervisor's own
inbox loop, in a credential pool and in a provider actor's loop. Each time the faulty call gets
a 500 `internal_error` envelope or fails over, the crashed actor is restarted, every other call
is served, and nothing hangs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import trio
from loguru import logger

from actors.credentials import CredentialPool
from actors.messages import Lease
from actors.provider import ProviderActor
from actors.supervisor import Supervisor
from actors.walk import Relay, Walk
from edge.simulator import Complete, always
from tests.e2e.harness import Gateway, launch

CHAINS = {"buggy": ["alpha/m"], "fine": ["alpha/m"]}
TWO = {**CHAINS, "chain": ["alpha/m", "beta/m"]}
CHAT = {"messages": [{"role": "user", "content": "hi"}]}


class Bug(Exception):
    """What the injected faults raise."""


@pytest.fixture
def errors() -> Iterator[list[Any]]:
    """Every ERROR record logged while the test runs."""
    found: list[Any] = []
    sink = logger.add(lambda message: found.append(message.record), level="ERROR")
    yield found
    logger.remove(sink)


async def post(gateway: Gateway, path: str, **body: Any) -> tuple[int, Any, dict[str, str]]:
    async with gateway.http() as http:
        reply = await http.post(path, json=body)
    payload = reply.json() if reply.headers["content-type"].startswith("application/json") else None
    return reply.status_code, payload if payload is not None else reply.text, dict(reply.headers)


async def chat(gateway: Gateway, model: str, **fields: Any) -> tuple[int, Any, dict[str, str]]:
    return await post(gateway, "/v1/chat/completions", model=model, **CHAT, **fields)


async def test_a_walk_that_raises_is_answered_500_and_nothing_else_notices(
    monkeypatch: pytest.MonkeyPatch, errors: list[Any]
) -> None:
    original = Walk._try_target

    async def faulty(self: Walk, *args: Any, **kwargs: Any) -> bool:
        if self.request.model == "buggy":
            raise Bug("injected into the walk")
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(Walk, "_try_target", faulty)
    results: dict[str, tuple[int, Any, dict[str, str]]] = {}
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery, {"alpha": always(Complete("ok", chunks=3))}, virtual_models=CHAINS
            )

            async def run(name: str, path: str, body: dict[str, Any]) -> None:
                results[name] = await post(gateway, path, **body)

            chat_path, responses_path = "/v1/chat/completions", "/v1/responses"
            async with trio.open_nursery() as calls:
                for n in range(5):
                    calls.start_soon(run, f"fine{n}", chat_path, {"model": "fine", **CHAT})
                calls.start_soon(run, "chat", chat_path, {"model": "buggy", **CHAT})
                stream = {"model": "buggy", "stream": True, **CHAT}
                calls.start_soon(run, "stream", chat_path, stream)
                calls.start_soon(run, "responses", responses_path, {"model": "buggy", "input": "x"})
                sse = {"model": "buggy", "input": "x", "stream": True}
                calls.start_soon(run, "responses-sse", responses_path, sse)
            after = await chat(gateway, "fine")
            nursery.cancel_scope.cancel()
    for n in range(5):
        status, body, _ = results[f"fine{n}"]
        assert status == 200 and body["choices"][0]["message"]["content"] == "ok"
    for name in ("chat", "stream", "responses", "responses-sse"):
        status, body, _ = results[name]
        assert status == 500, (name, body)
        assert body["error"]["code"] == "internal_error" and body["error"]["type"] == "server_error"
    assert after[0] == 200
    crashes = [r for r in errors if "crashed in its walk" in r["message"]]
    assert len(crashes) == 4  # one line per faulty call, each with its traceback
    assert all(r["exception"] is not None and r["exception"].type is Bug for r in crashes)


async def test_a_walk_that_raises_mid_stream_ends_the_stream_with_an_error(
    monkeypatch: pytest.MonkeyPatch, errors: list[Any]
) -> None:
    async def faulty(self: Relay) -> Any:
        raise Bug("injected into the relay")

    monkeypatch.setattr(Relay, "next_event", faulty)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {"alpha": always(Complete("one two three", chunks=3))},
                virtual_models=CHAINS,
            )
            status, body, headers = await chat(gateway, "buggy", stream=True)
            monkeypatch.undo()
            after = await chat(gateway, "fine", stream=True)
            nursery.cancel_scope.cancel()
    assert status == 200 and headers["x-baton-provider"] == "alpha"
    assert '"content":"one' in body.replace(" ", "")  # the first chunk went out
    assert '"code":"internal_error"' in body.replace(" ", "")  # then an in-band error
    assert "[DONE]" not in body
    assert after[0] == 200 and "[DONE]" in after[1]
    assert len([r for r in errors if "crashed in its walk" in r["message"]]) == 1


async def test_the_supervisors_inbox_loop_crashing_answers_500_and_restarts(
    monkeypatch: pytest.MonkeyPatch, errors: list[Any]
) -> None:
    original = Supervisor._start
    crashes: list[str] = []

    def faulty(self: Supervisor, calls: trio.Nursery, call: Any) -> None:
        if call.request.model == "buggy":
            crashes.append(call.request.model)
            raise Bug("injected into the supervisor")
        original(self, calls, call)

    monkeypatch.setattr(Supervisor, "_start", faulty)
    slow = Complete("slow but sure", chunks=4, chunk_delay=0.2)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            gateway = await launch(nursery, {"alpha": always(slow)}, virtual_models=CHAINS)
            streamed: list[Any] = []

            async def stream() -> None:
                streamed.append(await chat(gateway, "fine", stream=True))

            async with trio.open_nursery() as calls:
                calls.start_soon(stream)  # in flight while the inbox loop crashes
                await trio.sleep(0.1)
                buggy = await chat(gateway, "buggy")
                await trio.sleep(0.3)  # the loop is back after 0.1 s
                fine = await chat(gateway, "fine")
            nursery.cancel_scope.cancel()
    assert crashes == ["buggy"]
    assert buggy[0] == 500 and buggy[1]["error"]["code"] == "internal_error"
    assert fine[0] == 200
    [(status, body, _)] = streamed
    assert status == 200 and "[DONE]" in body and "internal_error" not in body
    assert any("supervisor inbox" in r["message"] for r in errors)


async def test_a_crashed_credential_pool_fails_over_and_is_restarted(
    monkeypatch: pytest.MonkeyPatch, errors: list[Any]
) -> None:
    original = CredentialPool._handle
    crashed: list[Any] = []

    async def faulty(self: CredentialPool, message: Any) -> None:
        is_alpha = self.pool.keys[0].alias.startswith("alpha")
        if not crashed and is_alpha and isinstance(message, Lease):
            crashed.append(message)
            raise Bug("injected into alpha's pool")
        await original(self, message)

    monkeypatch.setattr(CredentialPool, "_handle", faulty)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {"alpha": always(Complete("alpha")), "beta": always(Complete("beta"))},
                virtual_models=TWO,
            )
            failed_over = await chat(gateway, "chain")
            await trio.sleep(0.3)  # restarted after 0.1 s
            served = await chat(gateway, "chain")
            nursery.cancel_scope.cancel()
    assert len(crashed) == 1
    assert failed_over[0] == 200 and failed_over[1]["choices"][0]["message"]["content"] == "beta"
    assert failed_over[2]["x-baton-route"] == "alpha/m=unavailable,beta/m=200"
    assert served[0] == 200 and served[2]["x-baton-route"] == "alpha/m=200"
    assert any("credential pool alpha" in r["message"] for r in errors)


async def test_a_provider_actor_whose_loop_crashes_is_restarted(
    monkeypatch: pytest.MonkeyPatch, errors: list[Any]
) -> None:
    original = ProviderActor.run
    runs: list[str] = []

    async def faulty(
        self: ProviderActor, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        runs.append(self.config.name)
        if self.config.name == "alpha" and runs.count("alpha") == 1:
            task_status.started()
            await trio.sleep(0.05)
            raise Bug("injected into alpha's provider loop")
        await original(self, task_status=task_status)

    monkeypatch.setattr(ProviderActor, "run", faulty)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {"alpha": always(Complete("alpha")), "beta": always(Complete("beta"))},
                virtual_models=TWO,
            )
            await trio.sleep(0.3)
            assert runs.count("alpha") == 2 and runs.count("beta") == 1
            served = await chat(gateway, "fine")
            nursery.cancel_scope.cancel()
    assert served[0] == 200 and served[2]["x-baton-provider"] == "alpha"
    assert any("provider alpha" in r["message"] for r in errors)
