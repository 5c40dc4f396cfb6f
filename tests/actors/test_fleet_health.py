"""Provider health across a fleet: a provider one instance finds down is walked last by the
others too, unless they have their own recent evidence it is up (two checkers, one shared
state, as two processes on one Redis)."""

from __future__ import annotations

import trio

from actors.health import HealthChecker
from actors.health_book import Health
from actors.state import LocalState
from config import load_text
from config.model import Target
from protocols.failures import FailureClass

CONFIG = load_text(
    "providers:\n"
    "  p: {base_url: 'http://127.0.0.1:9/v1', keys: [k], health: off}\n"
    "  q: {base_url: 'http://127.0.0.1:9/v1', keys: [k], health: off}\n",
    env={},
).config


async def serve_a_moment(checker: HealthChecker) -> None:
    async with trio.open_nursery() as nursery:
        nursery.start_soon(checker._serve_inbox)
        await trio.sleep(0.05)
        nursery.cancel_scope.cancel()


async def test_a_provider_down_on_one_instance_goes_last_on_the_other() -> None:
    shared = LocalState()
    a = HealthChecker(CONFIG, {}, shared=shared)
    b = HealthChecker(CONFIG, {}, shared=shared)
    for _ in range(3):
        a.observe_call("p", FailureClass.SERVER, None)
    await serve_a_moment(a)
    now = trio.current_time()
    assert a.view.state("p", now) is Health.DOWN
    b.observe_call("q", None, 0.1)  # anything that makes b publish
    await serve_a_moment(b)
    assert b.view.fleet_down == frozenset({"p"})
    assert b.view.state("p", trio.current_time()) is Health.DOWN
    chain = (Target("p", "m"), Target("q", "m"))
    assert b.view.order(chain, "listed", trio.current_time()) == (chain[1], chain[0])
    # b's own fresh success with p outweighs the fleet's word
    c = HealthChecker(CONFIG, {}, shared=shared)
    c.observe_call("p", None, 0.1)
    await serve_a_moment(c)
    assert "p" in c.view.fleet_down and c.view.state("p", trio.current_time()) is Health.UP
