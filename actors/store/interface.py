"""`ResponseStoreLike`: what the edge and the actor system need of a Responses store, met by
`ResponseStore` (SQLite, one process) and `RedisResponseStore` (Redis or Valkey, shared by a
cluster of instances). Type `ActorSystem.responses` with it and either can be started.

What the types cannot say, and both stores keep: messages are served in order, so a
`put_nowait` is seen by every later request to the same store object; `put_nowait` never
blocks and never raises (a response it cannot store is dropped with a warning); `get`,
`find_item` answer None for what is not stored; `input_items` answers an empty page for an
unknown response or `after` id, and raises `StoreError` for a limit under 1 or an order other
than "asc" and "desc". Where they differ (the SQLite store raises `StoreError` when it has
stopped; the Redis store answers as if empty, and does so while Redis is down) is in their
module docstrings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import trio

from actors.store.tables import ItemPage, JsonObject, Order, StoredResponse

if TYPE_CHECKING:
    from actors.store.redis_responses import RedisResponseStore
    from actors.store.responses import ResponseStore


class ResponseStoreLike(Protocol):
    async def run(self, *, task_status: trio.TaskStatus[None] = ...) -> None: ...

    async def put(self, response: JsonObject, input_items: list[JsonObject]) -> None: ...

    def put_nowait(self, response: JsonObject, input_items: list[JsonObject]) -> None: ...

    async def get(self, response_id: str) -> StoredResponse | None: ...

    async def delete(self, response_id: str) -> bool: ...

    async def find_item(self, item_id: str) -> JsonObject | None: ...

    async def input_items(
        self, response_id: str, *, limit: int, order: Order = "desc", after: str | None = None
    ) -> ItemPage: ...


def _both_satisfy(
    sqlite: ResponseStore, redis: RedisResponseStore
) -> tuple[ResponseStoreLike, ResponseStoreLike]:
    """Never called: mypy checks here that both stores are `ResponseStoreLike`."""
    return sqlite, redis
