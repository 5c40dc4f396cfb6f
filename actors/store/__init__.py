"""The embedded stores: for the Responses API, `ResponseStore` (the actor) over
`ResponseTables` (SQLite bookkeeping), or `RedisResponseStore` in
`actors.store.redis_responses` (Redis or Valkey, shared by a cluster; imported from there, so
that coredis is loaded only where it is used), both `ResponseStoreLike`; for cooldowns and
rate windows, `StateTables` (the actor is `actors.state_keeper`)."""

from actors.store.interface import ResponseStoreLike
from actors.store.responses import ResponseStore
from actors.store.state import ProviderState, StateTables
from actors.store.tables import ItemPage, ResponseTables, StoredResponse, StoreError

__all__ = [
    "ItemPage",
    "ProviderState",
    "ResponseStore",
    "ResponseStoreLike",
    "ResponseTables",
    "StateTables",
    "StoreError",
    "StoredResponse",
]
