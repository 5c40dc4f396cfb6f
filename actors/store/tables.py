"""Stored Responses on SQLite: the tables, and the plain synchronous class that keeps them.

No trio and no clock here: every call that depends on time takes `now` (wall-clock seconds,
since a stored response must outlive the process). The actor in `actors.store.responses`
runs every call in a worker thread.

A response is kept as one row of compact JSON, its `output` list emptied, and every input and
output item as a row of its own, so output items are stored once and any item can be found by
its `id` (what `item_reference` needs). An item id may recur under many responses (Codex
replays the whole history each turn); items are keyed by (response, kind, position), and
`find_item` takes the newest. Sizes are counted in bytes of JSON, which is ASCII-only
(`ensure_ascii`), so a lone surrogate from a client cannot make a row unencodable.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import attrs

from actors.store.sqlite import open_tables

JsonObject = dict[str, Any]
Order = Literal["asc", "desc"]

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE responses (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    size INTEGER NOT NULL,
    json TEXT NOT NULL
);
CREATE INDEX responses_by_age ON responses (created_at, seq);
CREATE TABLE items (
    response_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('input', 'output')),
    position INTEGER NOT NULL,
    item_id TEXT,
    json TEXT NOT NULL,
    PRIMARY KEY (response_id, kind, position)
) WITHOUT ROWID;
CREATE INDEX items_by_id ON items (item_id) WHERE item_id IS NOT NULL;
"""


class StoreError(Exception):
    """The response store could not do what was asked (disk, schema, or unstorable data)."""


@attrs.frozen
class StoredResponse:
    response: JsonObject = attrs.field(repr=False)
    input_items: list[JsonObject] = attrs.field(repr=False)
    created_at: float


@attrs.frozen
class ItemPage:
    items: list[JsonObject] = attrs.field(repr=False)
    has_more: bool


def _dump(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def _item_id(item: object) -> str | None:
    item_id = item.get("id") if isinstance(item, dict) else None
    return item_id if isinstance(item_id, str) else None


@attrs.define
class ResponseTables:
    db: sqlite3.Connection

    def __attrs_post_init__(self) -> None:
        self.db.isolation_level = None  # transactions are explicit: see _transaction
        self._ensure_schema()

    @classmethod
    def connect(cls, path: Path | None) -> ResponseTables:
        """Open (creating if need be) the store at `path`; None keeps it in memory."""
        return open_tables(cls, path)

    def close(self) -> None:
        self.db.close()

    def _ensure_schema(self) -> None:
        if self._version() == 0:  # before anything is written, or it cannot be changed
            self.db.execute("PRAGMA auto_vacuum = INCREMENTAL")
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")  # WAL: a crash of baton loses nothing
        self.db.execute("PRAGMA journal_size_limit = 67108864")
        if self._version() == 0:
            with self._transaction("IMMEDIATE"):
                if self._version() == 0:  # another process may have just made it
                    for statement in _SCHEMA.split(";"):  # not executescript: it commits
                        if statement.strip():
                            self.db.execute(statement)
                    self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        if (version := self._version()) != SCHEMA_VERSION:
            raise StoreError(
                f"the response store has schema version {version}; "
                f"this baton reads version {SCHEMA_VERSION}"
            )

    def _version(self) -> int:
        (version,) = self.db.execute("PRAGMA user_version").fetchone()
        return int(version)

    @contextlib.contextmanager
    def _transaction(self, mode: str = "DEFERRED") -> Iterator[None]:
        self.db.execute(f"BEGIN {mode}")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- writing ----------------------------------------------------------------------------

    def put(self, response: JsonObject, input_items: list[JsonObject], *, now: float) -> None:
        """Store `response` and the input items it answered; a response with the same id is
        replaced."""
        response_id = response.get("id")
        if not isinstance(response_id, str):
            raise ValueError("a stored response needs a string 'id'")
        output = response.get("output")
        outputs: list[Any] = output if isinstance(output, list) else []
        body = _dump({**response, "output": []} if isinstance(output, list) else response)
        rows = [
            (response_id, kind, position, _item_id(item), _dump(item))
            for kind, items in (("input", input_items), ("output", outputs))
            for position, item in enumerate(items)
        ]
        size = len(body) + sum(len(row[4]) for row in rows)
        with self._transaction("IMMEDIATE"):
            self._delete([response_id])
            self.db.execute(
                "INSERT INTO responses (id, created_at, size, json) VALUES (?, ?, ?, ?)",
                (response_id, now, size, body),
            )
            self.db.executemany(
                "INSERT INTO items (response_id, kind, position, item_id, json)"
                " VALUES (?, ?, ?, ?, ?)",
                rows,
            )

    def delete(self, response_id: str) -> bool:
        """Delete a response and its items; False if there was no such response."""
        with self._transaction("IMMEDIATE"):
            return self._delete([response_id]) > 0

    def prune(self, *, now: float, max_age: float, max_bytes: int) -> int:
        """Delete the responses older than `max_age` seconds, then the oldest ones while the
        rest hold more than `max_bytes` of JSON. Returns how many were deleted."""
        cutoff = now - max_age
        with self._transaction("IMMEDIATE"):
            victims = [
                response_id
                for (response_id,) in self.db.execute(
                    "SELECT id FROM responses WHERE created_at < ?", (cutoff,)
                )
            ]
            (total,) = self.db.execute(
                "SELECT COALESCE(SUM(size), 0) FROM responses WHERE created_at >= ?", (cutoff,)
            ).fetchone()
            if total > max_bytes:
                for response_id, size in self.db.execute(
                    "SELECT id, size FROM responses WHERE created_at >= ? ORDER BY created_at, seq",
                    (cutoff,),
                ).fetchall():
                    if total <= max_bytes:
                        break
                    victims.append(response_id)
                    total -= size
            self._delete(victims)
        if victims:
            # Give the freed pages back to the disk. execute() would free only one: it steps
            # the statement once. (No transaction is open for executescript to commit.)
            self.db.executescript("PRAGMA incremental_vacuum;")
        return len(victims)

    def _delete(self, response_ids: list[str]) -> int:
        keys = [(response_id,) for response_id in response_ids]
        self.db.executemany("DELETE FROM items WHERE response_id = ?", keys)
        return self.db.executemany("DELETE FROM responses WHERE id = ?", keys).rowcount

    # -- reading ----------------------------------------------------------------------------

    def get(self, response_id: str) -> StoredResponse | None:
        with self._transaction():
            row = self.db.execute(
                "SELECT json, created_at FROM responses WHERE id = ?", (response_id,)
            ).fetchone()
            if row is None:
                return None
            items = self.db.execute(
                "SELECT kind, json FROM items WHERE response_id = ? ORDER BY kind, position",
                (response_id,),
            ).fetchall()
        response = json.loads(row[0])
        if isinstance(response.get("output"), list):
            response["output"] = [json.loads(text) for kind, text in items if kind == "output"]
        inputs = [json.loads(text) for kind, text in items if kind == "input"]
        return StoredResponse(response, inputs, row[1])

    def find_item(self, item_id: str) -> JsonObject | None:
        """The item with this id, from the newest response that holds it."""
        row = self.db.execute(
            "SELECT i.json FROM items AS i JOIN responses AS r ON r.id = i.response_id"
            " WHERE i.item_id = ?"
            " ORDER BY r.created_at DESC, r.seq DESC, i.kind DESC, i.position DESC LIMIT 1",
            (item_id,),
        ).fetchone()
        return None if row is None else json.loads(row[0])

    def input_items(
        self, response_id: str, *, limit: int, order: Order = "desc", after: str | None = None
    ) -> ItemPage:
        """One page of a response's input items. An unknown response or `after` id gives an
        empty page."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if order not in ("asc", "desc"):
            raise ValueError("order must be 'asc' or 'desc'")
        ascending = order == "asc"
        query = "SELECT json FROM items WHERE response_id = ? AND kind = 'input'"
        arguments: list[object] = [response_id]
        with self._transaction():
            if after is not None:
                (bound,) = self.db.execute(
                    f"SELECT {'MIN' if ascending else 'MAX'}(position) FROM items"
                    " WHERE response_id = ? AND kind = 'input' AND item_id = ?",
                    (response_id, after),
                ).fetchone()
                if bound is None:
                    return ItemPage([], has_more=False)
                query += f" AND position {'>' if ascending else '<'} ?"
                arguments.append(bound)
            query += f" ORDER BY position {'ASC' if ascending else 'DESC'} LIMIT ?"
            rows = self.db.execute(query, [*arguments, limit + 1]).fetchall()
        return ItemPage([json.loads(text) for (text,) in rows[:limit]], len(rows) > limit)

    def total_bytes(self) -> int:
        """The JSON the store holds, in bytes: what `prune` bounds."""
        (total,) = self.db.execute("SELECT COALESCE(SUM(size), 0) FROM responses").fetchone()
        return int(total)
