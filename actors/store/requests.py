"""What a Responses store is asked, and the asking: the message vocabulary both stores' inboxes
take (SQLite's `ResponseStore`, Redis's `RedisResponseStore`) and `StoreRequests`, the
requester's side they share. A requester sends a message carrying a reply channel and waits
for the answer; `put_nowait` sends one nobody waits for. What a stopped store answers is the
store's own choice (`_unanswered`): SQLite's raises, Redis's answers as if empty.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import attrs
import trio
from loguru import logger

from actors.store.tables import ItemPage, JsonObject, Order, StoredResponse, StoreError

INBOX_SIZE = 256
Reply = trio.MemorySendChannel[object]


@attrs.frozen
class Put:
    response: JsonObject = attrs.field(repr=False)
    input_items: list[JsonObject] = attrs.field(repr=False)
    reply: Reply | None = attrs.field(repr=False)  # None: nobody waits for it


@attrs.frozen
class Get:
    response_id: str
    reply: Reply = attrs.field(repr=False)


@attrs.frozen
class Delete:
    response_id: str
    reply: Reply = attrs.field(repr=False)


@attrs.frozen
class FindItem:
    item_id: str
    reply: Reply = attrs.field(repr=False)


@attrs.frozen
class ListInputItems:
    response_id: str
    limit: int
    order: Order
    after: str | None
    reply: Reply = attrs.field(repr=False)


StoreMessage = Put | Get | Delete | FindItem | ListInputItems


@attrs.define
class StoreRequests:
    _send: trio.MemorySendChannel[StoreMessage] = attrs.field(init=False, repr=False)
    _inbox: trio.MemoryReceiveChannel[StoreMessage] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self._send, self._inbox = trio.open_memory_channel[StoreMessage](INBOX_SIZE)

    async def put(self, response: JsonObject, input_items: list[JsonObject]) -> None:
        """Store a response and its input items, and wait until they are kept; `StoreError`
        if they cannot be. The caller must not change them afterwards."""
        await self._ask(lambda reply: Put(response, list(input_items), reply))

    def put_nowait(self, response: JsonObject, input_items: list[JsonObject]) -> None:
        """Store a response without waiting; dropped, with a warning, if the store is far
        behind or stopped (or, once it tries, cannot keep it). The caller must not change
        them afterwards."""
        try:
            self._send.send_nowait(Put(response, list(input_items), None))
        except trio.WouldBlock:
            logger.warning("response store is full: response {} not stored", response.get("id"))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            logger.warning("response store stopped: response {} not stored", response.get("id"))

    async def get(self, response_id: str) -> StoredResponse | None:
        answer = await self._ask(lambda reply: Get(response_id, reply))
        return cast(StoredResponse | None, answer)

    async def delete(self, response_id: str) -> bool:
        return cast(bool, await self._ask(lambda reply: Delete(response_id, reply)))

    async def find_item(self, item_id: str) -> JsonObject | None:
        return cast(JsonObject | None, await self._ask(lambda reply: FindItem(item_id, reply)))

    async def input_items(
        self, response_id: str, *, limit: int, order: Order = "desc", after: str | None = None
    ) -> ItemPage:
        answer = await self._ask(
            lambda reply: ListInputItems(response_id, limit, order, after, reply)
        )
        return cast(ItemPage, answer)

    async def _ask(self, message: Callable[[Reply], StoreMessage]) -> object:
        reply_send, reply_receive = trio.open_memory_channel[object](1)
        request = message(reply_send)
        with reply_receive:
            try:
                await self._send.send(request)
                answer = await reply_receive.receive()
            except (trio.BrokenResourceError, trio.ClosedResourceError, trio.EndOfChannel) as exc:
                answer = self._unanswered(request, exc)
        if isinstance(answer, StoreError):
            raise answer
        return answer

    def _unanswered(self, request: StoreMessage, exc: Exception) -> object:
        """The answer when the store's task is not there to give one (or raise)."""
        raise NotImplementedError

    # -- what both actors do with their inbox on the way out ------------------------------

    async def _serve(self, message: StoreMessage) -> None:
        raise NotImplementedError

    async def _serve_queued(self) -> None:
        """On the way out, serve what was sent before the store stopped (a `put_nowait` of a
        response the client has already seen, above all), but not what keeps coming."""
        for _ in range(self._inbox.statistics().current_buffer_used):
            await self._serve(self._inbox.receive_nowait())

    def _fail_queued(self) -> None:
        """Close the inbox, and the reply channel of every request still in it (those the
        grace period did not reach), so that no requester waits forever."""
        while True:
            try:
                message = self._inbox.receive_nowait()
            except trio.WouldBlock:
                break
            if message.reply is not None:
                message.reply.close()
        self._inbox.close()
