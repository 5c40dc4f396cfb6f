"""Opening baton's SQLite files: one place for where they live and how they are shared.

Each store's actor calls its tables from whichever worker thread is free, one call at a time
(a `trio.CapacityLimiter(1)`), so a connection is made with `check_same_thread=False`. A path
of None keeps the database in memory, for a gateway run without a data directory.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def open_tables(tables: Callable[[sqlite3.Connection], T], path: Path | None) -> T:
    """`tables` over a connection to `path` (its folder made if need be); the connection is
    closed again if `tables` fails (a schema it cannot read, a locked file)."""
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(":memory:" if path is None else path, timeout=5.0, check_same_thread=False)
    try:
        return tables(db)
    except BaseException:
        db.close()
        raise
