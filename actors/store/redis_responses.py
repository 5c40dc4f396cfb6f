"""The Responses store actor on Redis or Valkey: what `ResponseStore` does for one process,
shared by every baton instance of a cluster behind a load balancer.

Same interface as `ResponseStore` (`put`, `put_nowait`, `get`, `delete`, `find_item`,
`input_items`, `run`), same messages, same order: one bounded inbox, served one message at a
time, so a `put_nowait` is visible to every later request *on this instance* (the next turn's
`previous_response_id`, when it comes back here). Across instances a put is visible once it is
written: a request that reaches instance B before A's store has served A's `put_nowait` (a
millisecond or so after A's response ended) does not see it. Serving one message at a time
costs a round trip each; a gateway makes one get and one put a turn, far below what that allows.
The key layout, scripts and expiry are in `actors.store.redis_layout`.

**Bounds.** Every key gets a TTL (`ttl`, 30 days by default, the SQLite store's age limit); a
response whose JSON (the response and its items) is over `max_bytes` (16 MiB) is not stored, with
a warning: its next turn then gets the API's own 400 for an unknown `previous_response_id`.
There is no total-size bound: Redis's own `maxmemory` and eviction policy are that.

**Redis down.** Nothing raises into the edge. Every Redis call is bounded by `timeout`; a call
that fails or times out marks Redis down (one WARNING per outage, and an INFO with the count of
responses not stored when it is back). While it is down, requests are answered without trying,
except for one attempt every `retry_every` seconds, so an outage costs requests nothing but the
stored state: `get` and `find_item` answer None, `delete` False, `input_items` an empty page
(the routes then give the API's own 404 or 400), and puts are dropped. An awaited `put` raises
`StoreError` instead, as it does on SQLite: its caller waits to know. A request the store
cannot serve because it has stopped is answered the same way, with a warning.

Caller faults are what they are on SQLite: `StoreError` from `put` (no id, not JSON) or
`input_items` (limit under 1, unknown order); a warning and a drop from `put_nowait`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import coredis
import trio
from coredis.exceptions import RedisError
from loguru import logger

from actors.store import redis_layout as layout
from actors.store.requests import (
    Delete,
    FindItem,
    Get,
    ListInputItems,
    Put,
    StoreMessage,
    StoreRequests,
)
from actors.store.responses import SHUTDOWN_GRACE
from actors.store.tables import ItemPage, StoreError
from actors.supervision import drop

DAY = 24 * 3600.0
MIB = 1024 * 1024
_UNAVAILABLE: Any = object()  # what `_redis` answers when Redis cannot
_EMPTY = ItemPage([], has_more=False)


def _fallback(message: StoreMessage) -> object:
    """The answer to a request Redis could not serve: the store as if empty."""
    match message:
        case Put():
            return StoreError("response store: Redis is unavailable")
        case Delete():
            return False
        case ListInputItems():
            return _EMPTY
        case Get() | FindItem():
            return None


@attrs.define
class RedisResponseStore(StoreRequests):
    client: coredis.Redis[str] = attrs.field(repr=False)
    cluster: str = "default"
    ttl: float = 30 * DAY
    max_bytes: int = 16 * MIB
    timeout: float = 2.0  # seconds, for each Redis call
    retry_every: float = 1.0  # seconds between attempts while Redis is down
    wall_clock: Callable[[], float] = time.time
    _scripts: dict[str, Any] = attrs.field(init=False, repr=False)
    _down: bool = attrs.field(init=False, default=False)
    _next_try: float = attrs.field(init=False, default=0.0)
    _lost: int = attrs.field(init=False, default=0)  # puts dropped in this outage

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._scripts = {
            name: self.client.register_script(getattr(layout, name))
            for name in ("PUT", "GET", "DELETE", "FIND_ITEM", "INPUT_ITEMS")
        }

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        cluster: str = "default",
        ttl: float = 30 * DAY,
        max_bytes: int = 16 * MIB,
        timeout: float = 2.0,
        retry_every: float = 1.0,
    ) -> RedisResponseStore:
        """A store on the Redis or Valkey at `url` (`redis://host:port/db`, `rediss://` for
        TLS). Nothing is connected until a request needs it: a Redis down at start-up is an
        outage like any other, not a failure to start."""
        client = coredis.Redis.from_url(
            url, decode_responses=True, connect_timeout=timeout, stream_timeout=timeout
        )
        return cls(client, cluster, ttl, max_bytes, timeout, retry_every)

    @property
    def prefix(self) -> str:
        return f"baton:{self.cluster}:"

    def _unanswered(self, request: StoreMessage, exc: Exception) -> object:
        logger.warning("response store is not running: {!r} answered as empty", request)
        return _fallback(request)

    # -- the actor ----------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        crashed = False
        async with self.client:  # the connection pool; it connects on the first request
            try:
                task_status.started()
                while True:
                    message = await self._inbox.receive()
                    # A message taken is a message served; each Redis call is bounded.
                    with trio.CancelScope(shield=True):
                        try:
                            await self._serve(message)
                        except BaseException:
                            drop(message)  # its requester must not wait for the restart
                            raise
            except Exception:
                crashed = True  # restarted by its supervisor: the queue waits for the next run
                raise
            finally:
                if not crashed:
                    with trio.CancelScope(shield=True):
                        with trio.move_on_after(SHUTDOWN_GRACE):
                            await self._serve_queued()
                        self._fail_queued()

    async def _serve(self, message: StoreMessage) -> None:
        answer = await self._answer(message)
        if message.reply is None:
            return
        with message.reply:  # closed even if cancelled: the requester sees EndOfChannel
            try:
                message.reply.send_nowait(answer)
            except trio.BrokenResourceError:
                pass  # the requester gave up

    async def _answer(self, message: StoreMessage) -> object:
        scripts, prefix = self._scripts, self.prefix
        try:
            match message:
                case Put():
                    return await self._store(message)
                case Get(response_id=response_id):
                    reply = await self._redis(lambda: scripts["GET"](args=[prefix, response_id]))
                    return _fallback(message) if reply is _UNAVAILABLE else layout.decode_get(reply)
                case Delete(response_id=response_id):
                    reply = await self._redis(lambda: scripts["DELETE"](args=[prefix, response_id]))
                    return _fallback(message) if reply is _UNAVAILABLE else bool(reply)
                case FindItem(item_id=item_id):
                    reply = await self._redis(lambda: scripts["FIND_ITEM"](args=[prefix, item_id]))
                    return (
                        _fallback(message) if reply is _UNAVAILABLE else layout.decode_item(reply)
                    )
                case ListInputItems(response_id=response_id, limit=limit, order=order):
                    page = layout.input_items_arguments(limit, order, message.after)
                    arguments = [prefix, response_id, *page]
                    reply = await self._redis(lambda: scripts["INPUT_ITEMS"](args=arguments))
                    if reply is _UNAVAILABLE:
                        return _fallback(message)
                    return layout.decode_page(reply, limit, order)
        except (TypeError, ValueError) as exc:  # the caller's fault: this request fails alone
            error = StoreError(f"response store: {exc}")
            error.__cause__ = exc
            return error
        raise AssertionError(f"unknown message {message!r}")

    async def _store(self, message: Put) -> StoreError | None:
        try:
            encoded = layout.encode_put(message.response, message.input_items, self.wall_clock())
        except (TypeError, ValueError) as exc:
            if message.reply is None:
                logger.warning(
                    "response store: storing {} failed: {!r}", message.response.get("id"), exc
                )
            raise
        if encoded.size > self.max_bytes:
            logger.warning(
                "response store: response {} not stored: {} bytes of JSON, over the {} allowed",
                encoded.response_id,
                encoded.size,
                self.max_bytes,
            )
            return StoreError(f"response store: response {encoded.response_id} is too large")
        arguments = [
            self.prefix,
            encoded.response_id,
            str(int(self.ttl * 1000)),
            *encoded.arguments,
        ]
        if await self._redis(lambda: self._scripts["PUT"](args=arguments)) is _UNAVAILABLE:
            self._lost += 1
            return StoreError("response store: Redis is unavailable")
        return None

    async def _redis(self, call: Callable[[], Awaitable[Any]]) -> Any:
        """One Redis call, bounded by `timeout`; `_UNAVAILABLE` if it fails, or if Redis is
        down and it is not yet time to try again."""
        now = trio.current_time()
        if self._down and now < self._next_try:
            await trio.lowlevel.checkpoint()
            return _UNAVAILABLE
        try:
            with trio.fail_after(self.timeout):
                result = await call()
        except (RedisError, OSError, trio.TooSlowError) as exc:
            if not self._down:
                logger.warning(
                    "response store: Redis is unavailable ({!r}); stored responses are not "
                    "read or written until it is back",
                    exc,
                )
            self._down, self._next_try = True, now + self.retry_every
            return _UNAVAILABLE
        if self._down:
            logger.info("response store: Redis is back; {} responses were not stored", self._lost)
            self._down, self._lost = False, 0
        return result
