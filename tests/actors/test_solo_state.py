"""`Solo`, the `SharedState` of a gateway of one instance, and the rule that makes the backend
a start-up choice: the actors hold a `SharedState` whichever it is, and only the system that
starts them names one."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest
import trio

from actors.credentials import CredentialPool
from actors.health import HealthChecker
from actors.keypool import KeyPool
from actors.ratelimit import RateLimitTracker
from actors.ratelimit_book import RateLimitBook
from actors.state import SharedState, Solo, Window
from config.loader import load_text

ROOT = Path(__file__).resolve().parents[2]
# where a backend may be named: the composition root, the fleet's heartbeat actor (Redis
# only), the /stats reporter and the backends themselves
MAY_NAME_A_BACKEND = {"actors/system.py", "actors/fleet.py", "actors/telemetry/snapshot.py"}
CONCRETE = {"RedisState", "LocalState"}


async def test_solo_is_a_shared_state_whose_answers_are_the_books() -> None:
    solo = Solo()
    assert isinstance(solo, SharedState) and solo.up
    minute = Window(60.0, max_requests=1)
    # the asking book already found room, and nobody else spends the window
    assert [await solo.take("p/k/model:m", (minute,), 10, 0.0) for _ in range(5)] == [None] * 5
    assert all([await solo.lease("p/k", 1, str(n), 900.0, 0.0) for n in range(5)])
    await solo.cool("p/k", "m", math.inf)
    assert await solo.cooling("p/", 0.0) == {}  # the pool that cooled it holds the cooldown
    assert await solo.claim_probe("p/k", "m", 30.0) and await solo.claim_probe("p/k", "m", 30.0)
    assert await solo.heartbeat("me", 6.0) == 1


async def test_every_answer_of_solo_is_a_checkpoint() -> None:
    solo = Solo()
    calls = [
        lambda: solo.take("s", (), 0, 0.0),
        lambda: solo.settle("s", 1, 0.0),
        lambda: solo.lease("k", 1, "l", 1.0, 0.0),
        lambda: solo.release("k", "l"),
        lambda: solo.cool("k", "s", 1.0),
        lambda: solo.cooling("k", 0.0),
        lambda: solo.claim_probe("k", "s", 1.0),
        lambda: solo.heartbeat("me", 1.0),
    ]
    for call in calls:
        with trio.CancelScope() as scope:
            scope.cancel()
            with pytest.raises(trio.Cancelled):
                await call()


def test_actors_hold_solo_unless_told_otherwise() -> None:
    text = "providers:\n  p:\n    base_url: http://127.0.0.1:9/v1\n    keys: [sk-solo]\n"
    config = load_text(text, env={}).config
    book = RateLimitBook.for_provider(config.providers["p"])
    assert isinstance(RateLimitTracker(book).shared, Solo)
    pool = CredentialPool(KeyPool.for_provider(config.providers["p"]))
    assert isinstance(pool.fleet.shared, Solo)
    assert isinstance(HealthChecker(config, {}).shared, Solo)


def _checks_for_none(tree: ast.AST) -> list[int]:
    """Lines comparing a `shared` or `fleet` attribute with None: code asking which it has."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and isinstance(node.left, ast.Attribute):
            if node.left.attr in {"shared", "fleet"} and any(
                isinstance(c, ast.Constant) and c.value is None for c in node.comparators
            ):
                lines.append(node.lineno)
    return lines


def test_no_business_logic_knows_which_backend_it_has() -> None:
    offenders: dict[str, list[str]] = {}
    for package in ("actors", "edge", "protocols", "config"):
        for path in (ROOT / package).rglob("*.py"):
            name = str(path.relative_to(ROOT))
            if name.startswith("actors/state/") or name in MAY_NAME_A_BACKEND:
                continue
            text = path.read_text()
            found = [word for word in sorted(CONCRETE) if word in text]
            found += [f"line {line}: is None" for line in _checks_for_none(ast.parse(text))]
            if found:
                offenders[name] = found
    assert offenders == {}
