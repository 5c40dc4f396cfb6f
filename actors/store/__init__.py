"""The embedded stores: for the Responses API, `ResponseStore` (the actor) over
`ResponseTables` (SQLite bookkeeping); for cooldowns and rate windows, `StateTables` (the
actor is `actors.state_keeper`)."""

from actors.store.responses import ResponseStore
from actors.store.state import ProviderState, StateTables
from actors.store.tables import ItemPage, ResponseTables, StoredResponse, StoreError

__all__ = [
    "ItemPage",
    "ProviderState",
    "ResponseStore",
    "ResponseTables",
    "StateTables",
    "StoreError",
    "StoredResponse",
]
