"""Cooldowns and rate windows on SQLite: one row per provider, written whole.

No trio and no clock here: the actor in `actors.state_keeper` runs every call in a worker
thread and says what time it is. A row holds the provider's `KeyPool.snapshot` and
`RateLimitBook.snapshot` as JSON, whose times are offsets from the moment they were taken, and
that moment as wall-clock seconds (`saved_at`): whoever restores them ages them by the time
since. A row is replaced whole, in one transaction with the others saved at the same time, so
a crash leaves either the old rows or the new ones.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from actors.store.sqlite import open_tables
from actors.store.tables import StoreError

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE provider_state (
    provider TEXT PRIMARY KEY,
    saved_at REAL NOT NULL,
    pool TEXT NOT NULL,
    book TEXT NOT NULL
) WITHOUT ROWID
"""


@attrs.frozen
class ProviderState:
    """What one provider's pool and book looked like at wall-clock time `saved_at`."""

    pool: dict[str, Any] = attrs.field(repr=False)
    book: dict[str, Any] = attrs.field(repr=False)
    saved_at: float


@attrs.define
class StateTables:
    db: sqlite3.Connection

    def __attrs_post_init__(self) -> None:
        self.db.isolation_level = None  # transactions are explicit
        self._ensure_schema()

    @classmethod
    def connect(cls, path: Path | None) -> StateTables:
        """Open (creating if need be) the state at `path`; None keeps it in memory."""
        return open_tables(cls, path)

    def close(self) -> None:
        self.db.close()

    def _ensure_schema(self) -> None:
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")  # WAL: a crash of baton loses nothing
        if self._version() == 0:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                if self._version() == 0:  # another process may have just made it
                    self.db.execute(_SCHEMA)
                    self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
        if (version := self._version()) != SCHEMA_VERSION:
            raise StoreError(
                f"the state store has schema version {version}; "
                f"this baton reads version {SCHEMA_VERSION}"
            )

    def _version(self) -> int:
        (version,) = self.db.execute("PRAGMA user_version").fetchone()
        return int(version)

    def save(self, states: Mapping[str, ProviderState]) -> None:
        """Replace the rows of these providers (others are left as they are)."""
        rows = [
            (name, state.saved_at, _dump(state.pool), _dump(state.book))
            for name, state in states.items()
        ]
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.executemany(
                "INSERT OR REPLACE INTO provider_state (provider, saved_at, pool, book)"
                " VALUES (?, ?, ?, ?)",
                rows,
            )
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def load(self) -> dict[str, ProviderState | None]:
        """Every provider's saved state; None for a row that cannot be read back."""
        found: dict[str, ProviderState | None] = {}
        for name, saved_at, pool, book in self.db.execute(
            "SELECT provider, saved_at, pool, book FROM provider_state"
        ):
            try:
                found[name] = ProviderState(json.loads(pool), json.loads(book), float(saved_at))
            except (TypeError, ValueError):
                found[name] = None
        return found


def _dump(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)
