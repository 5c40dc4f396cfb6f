"""Supervision: how every actor is restarted, and how requests to an actor never hang.

**Restarts, one for one.** `supervise(name, run)` runs one actor's `run` and, when it raises,
logs the traceback once and calls `run` again on the same object after a backoff (0.1 s
doubling to 5 s; a run that lasted `quiet` seconds before it crashed starts the backoff
afresh). The actor's bookkeeping lives on the object, not in the task, so a restart keeps it:
cooldowns, rate windows and health outcomes survive their actor's crash. Its inbox survives
too: messages sent while it was down are served by the next run. Only `Exception`s are
caught: a cancellation (the system stopping) ends supervision, and a crash before the first
`task_status.started()` is raised to whoever started the system (a bad data directory is not
something a restart fixes). A later run's `started()` is swallowed, since the system already
knows the actor is up.

**Asking without hanging.** A request that needs an answer carries a one-slot reply channel
whose sending side belongs to the actor: it answers and closes it, and an actor whose task
dies closes the reply channels of the requests it holds (a `with` around each, or an explicit
close of its queue on the way out). So a requester sees either its answer or `EndOfChannel`,
which `ask` turns into `ActorUnavailable`: the caller treats the actor as failed for this
request (the walk skips the target, as for an upstream failure). A request still in the inbox
when the actor dies waits for the restart, bounded by the requester's own deadline.

**Telling.** A notification nobody waits for (a rate window's usage, a health observation)
goes with `tell`: `send_nowait` on the actor's bounded inbox, dropped and counted if the inbox
is full. Each actor's docstring says which of its messages may be dropped and why that is
safe; the ones that may not (a key's release) are sent with an awaited send instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import attrs
import trio
from loguru import logger

M = TypeVar("M")
R = TypeVar("R")


class ActorUnavailable(Exception):
    """An actor dropped a request without answering it: it crashed with the request in hand,
    or it stopped."""


@attrs.frozen
class Backoff:
    first: float = 0.1
    factor: float = 2.0
    most: float = 5.0
    quiet: float = 30.0  # a run this long before it crashed starts the backoff afresh

    def after(self, delay: float | None, ran_for: float) -> float:
        """The delay before the next restart, given the last one (None: there was none) and
        how long the run that just crashed lasted."""
        if delay is None or ran_for >= self.quiet:
            return self.first
        return min(delay * self.factor, self.most)


class Runnable(Protocol):
    def __call__(self, *, task_status: trio.TaskStatus[None] = ...) -> Awaitable[None]: ...


@attrs.define
class _Started:
    """The task status a supervised run sees: the first `started()` goes to the starter."""

    outer: trio.TaskStatus[None]
    done: bool = False

    def started(self, value: None = None) -> None:
        if not self.done:
            self.done = True
            self.outer.started()


async def supervise(
    name: str,
    run: Runnable,
    *,
    backoff: Backoff = Backoff(),
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run `run` until it returns or is cancelled, restarting it whenever it raises."""
    status = _Started(task_status)
    delay: float | None = None
    while True:
        began = trio.current_time()
        try:
            await run(task_status=status)
            return
        except Exception as exc:
            if not status.done:
                raise
            delay = backoff.after(delay, trio.current_time() - began)
            logger.opt(exception=exc).error(
                "actor {} crashed ({}); restarting it in {:g} s", name, type(exc).__name__, delay
            )
        await trio.sleep(delay)


async def ask(send: trio.MemorySendChannel[M], message_for: Callable[[Any], M]) -> Any:
    """Send the message `message_for(reply)` builds and wait for the one answer on `reply`.
    Raises `ActorUnavailable` if the actor closes the reply unanswered (or its inbox is
    closed). Waits while the inbox is full: the requester's deadline bounds it."""
    reply_send, reply_receive = trio.open_memory_channel[Any](1)
    with reply_receive:
        try:
            await send.send(message_for(reply_send))
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            reply_send.close()
            raise ActorUnavailable("the actor has stopped") from exc
        except BaseException:
            reply_send.close()
            raise
        try:
            return await reply_receive.receive()
        except (trio.EndOfChannel, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise ActorUnavailable("the actor dropped the request") from exc


async def ask_patiently(
    send: trio.MemorySendChannel[M],
    message_for: Callable[[Any], M],
    patience: float,
    progress: Callable[[], int],
) -> Any:
    """`ask`, but give up (`ActorUnavailable`) once the actor has handled nothing for
    `patience` seconds while this request waited: `progress()` counts what it has handled.
    An actor that is busy, or that a busy event loop schedules late, is waited for; one that
    is stuck is not. (A fixed patience failed healthy calls while thousands of streams
    opened at once kept the loop busy for longer than it.)"""
    reply_send, reply_receive = trio.open_memory_channel[Any](1)
    sent = False
    with reply_receive:
        try:
            message = message_for(reply_send)
            while True:
                seen = progress()
                with trio.move_on_after(patience):
                    if not sent:
                        try:
                            await send.send(message)
                        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                            raise ActorUnavailable("the actor has stopped") from exc
                        sent = True
                    try:
                        return await reply_receive.receive()
                    except trio.EndOfChannel as exc:
                        raise ActorUnavailable("the actor dropped the request") from exc
                if progress() == seen:
                    raise ActorUnavailable(f"the actor handled nothing for {patience:g} s")
        except BaseException:
            if not sent:  # the message never reached the actor: nothing else holds the reply
                reply_send.close()
            raise


def tell(send: trio.MemorySendChannel[M], message: M) -> bool:
    """Send a notification without waiting; False if it was dropped (inbox full or closed)."""
    try:
        send.send_nowait(message)
    except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
        return False
    return True


def drop(message: object) -> None:
    """Close the reply channel of a request an actor was handling when it crashed."""
    reply = getattr(message, "reply", None)
    if isinstance(reply, trio.MemorySendChannel):
        reply.close()


def answer(reply: trio.MemorySendChannel[R], value: R) -> bool:
    """Answer a request and close its reply channel; False if the requester had gone."""
    with reply:
        try:
            reply.send_nowait(value)
        except (trio.BrokenResourceError, trio.ClosedResourceError, trio.WouldBlock):
            return False
    return True
