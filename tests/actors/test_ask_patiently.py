"""`ask_patiently`: a requester waits for an actor that keeps handling messages, however late a
busy event loop schedules it, and gives up on one that handles nothing for its patience."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from actors.supervision import ActorUnavailable, ask_patiently


class Actor:
    """Handles one message every `every` seconds, and answers a request once it has handled
    `answer_at` messages in all (None: it keeps the request and never answers)."""

    def __init__(self, every: float, answer_at: int | None) -> None:
        self.send, self.inbox = trio.open_memory_channel[Any](1)
        self.every, self.answer_at, self.handled = every, answer_at, 0

    async def run(self) -> None:
        pending = None
        while True:
            message = await self.inbox.receive()
            await trio.sleep(self.every)
            self.handled += 1
            if isinstance(message, trio.MemorySendChannel):
                pending = message
            if pending is not None and self.answer_at is not None:
                if self.handled >= self.answer_at:
                    await pending.send("answered")
                    pending = None


async def test_a_slow_actor_that_keeps_working_is_waited_for(
    autojump_clock: trio.abc.Clock,
) -> None:
    actor = Actor(every=0.6, answer_at=5)  # busy with four others first: 3 s, patience 1 s
    async with trio.open_nursery() as nursery:
        nursery.start_soon(actor.run)
        for _ in range(4):
            nursery.start_soon(actor.send.send, "other")
        await trio.sleep(0)
        began = trio.current_time()
        got = await ask_patiently(actor.send, lambda reply: reply, 1.0, lambda: actor.handled)
        assert got == "answered" and trio.current_time() - began >= 2.9
        nursery.cancel_scope.cancel()


async def test_a_stuck_actor_is_given_up_after_its_patience(
    autojump_clock: trio.abc.Clock,
) -> None:
    actor = Actor(every=0.0, answer_at=None)  # takes the request, then never handles another
    async with trio.open_nursery() as nursery:
        nursery.start_soon(actor.run)
        began = trio.current_time()
        with pytest.raises(ActorUnavailable, match="handled nothing for 1 s"):
            await ask_patiently(actor.send, lambda reply: reply, 1.0, lambda: actor.handled)
        assert 1.0 <= trio.current_time() - began < 2.5  # one patience, and one more at most
        nursery.cancel_scope.cancel()


async def test_a_full_inbox_of_a_stuck_actor_is_given_up_too(
    autojump_clock: trio.abc.Clock,
) -> None:
    send, inbox = trio.open_memory_channel[Any](0)  # nobody ever receives
    with inbox, pytest.raises(ActorUnavailable):
        await ask_patiently(send, lambda reply: reply, 1.0, lambda: 0)


async def test_a_stopped_or_dropping_actor_is_unavailable_at_once() -> None:
    send, inbox = trio.open_memory_channel[Any](1)
    inbox.close()
    with pytest.raises(ActorUnavailable, match="stopped"):
        await ask_patiently(send, lambda reply: reply, 60.0, lambda: 0)
    send, inbox = trio.open_memory_channel[Any](1)

    async def drop() -> None:
        (await inbox.receive()).close()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(drop)
        with trio.fail_after(5), pytest.raises(ActorUnavailable, match="dropped"):
            await ask_patiently(send, lambda reply: reply, 60.0, lambda: 0)
