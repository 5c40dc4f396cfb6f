"""StateTables: one row per provider on SQLite, replaced whole, read back as saved."""

import sqlite3
from pathlib import Path

import pytest

from actors.store import ProviderState, StateTables, StoreError

POOL = {"version": 1, "cooldowns": [{"key": "k0", "model": "m", "ends_in": 12.5, "strikes": 2}]}
BOOK = {"version": 1, "tallies": []}


def test_rows_round_trip_through_the_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "state.sqlite3"
    tables = StateTables.connect(path)
    tables.save({"alpha": ProviderState(POOL, BOOK, 1000.0), "beta": ProviderState({}, {}, 5.0)})
    tables.save({"alpha": ProviderState(BOOK, POOL, 2000.0)})  # replaced; beta left alone
    tables.close()
    tables = StateTables.connect(path)
    assert tables.load() == {
        "alpha": ProviderState(BOOK, POOL, 2000.0),
        "beta": ProviderState({}, {}, 5.0),
    }
    (mode,) = tables.db.execute("PRAGMA journal_mode").fetchone()
    assert mode == "wal"
    tables.close()


def test_in_memory_and_unreadable_rows(tmp_path: Path) -> None:
    tables = StateTables.connect(None)
    assert tables.load() == {}
    tables.db.execute("INSERT INTO provider_state VALUES ('alpha', 1.0, 'not json', '{}')")
    assert tables.load() == {"alpha": None}
    tables.close()


def test_a_state_file_from_a_newer_baton_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 7")
    db.close()
    with pytest.raises(StoreError, match="schema version 7"):
        StateTables.connect(path)
