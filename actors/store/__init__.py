"""The embedded store for the Responses API: `ResponseStore` (the actor) over
`ResponseTables` (SQLite bookkeeping)."""

from actors.store.responses import ResponseStore
from actors.store.tables import ItemPage, ResponseTables, StoredResponse, StoreError

__all__ = ["ItemPage", "ResponseStore", "ResponseTables", "StoreError", "StoredResponse"]
