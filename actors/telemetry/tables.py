"""Call records on SQLite (`telemetry.sqlite3` in the data directory; in memory without one).

No trio and no clock: the telemetry actor calls these from one worker thread at a time and
says what time it is. Records are written in batches, one transaction each (WAL, `synchronous
= NORMAL`: a crash may lose the last batch, never corrupt the file). A row holds the record's
plain fields as columns, for queries, and its hops as JSON.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs

from actors.store.sqlite import open_tables
from actors.telemetry.record import CallRecord
from actors.telemetry.stats_book import TodayRow
from protocols import jsoncodec
from protocols.usage import Usage

_COLUMNS = (
    "request_id",
    "started",
    "endpoint",
    "client",
    "model",
    "stream",
    "status",
    "outcome",
    "provider",
    "served_model",
    "key",
    "error",
    "route",
    "attempts",
    "ttft",
    "duration",
    "input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cached_tokens",
    "cost",
    "hops",
)
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY,
    {", ".join(_COLUMNS)}
);
CREATE INDEX IF NOT EXISTS calls_started ON calls (started);
"""
# A batch is one statement over one JSON parameter (a list of rows), so the worker thread that
# writes it takes the GIL once, not once per row: `executemany` releases and takes it back for
# every row, each time waiting out the event loop's turn.
_INSERT = (
    f"INSERT INTO calls ({', '.join(_COLUMNS)}) SELECT "
    + ", ".join(f"value ->> {index}" for index in range(len(_COLUMNS)))
    + " FROM json_each(?)"
)


def _row(record: CallRecord) -> tuple[Any, ...]:
    usage = record.usage
    hops = [attrs.asdict(hop) for hop in record.hops]
    return (
        record.request_id,
        record.started,
        record.endpoint,
        record.client,
        record.model,
        int(record.stream),
        record.status,
        record.outcome,
        record.provider,
        record.served_model,
        record.key,
        record.error,
        record.route,
        record.attempts,
        record.ttft,
        record.duration,
        usage.input,
        usage.output,
        usage.reasoning,
        usage.cached,
        record.cost,
        hops,
    )


@attrs.define
class TelemetryTables:
    db: sqlite3.Connection

    def __attrs_post_init__(self) -> None:
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")
        self.db.executescript(_SCHEMA)

    @classmethod
    def connect(cls, path: Path | None) -> TelemetryTables:
        """Open (creating if need be) the records at `path`; None keeps them in memory."""
        return open_tables(cls, path)

    def close(self) -> None:
        self.db.close()

    def write(self, records: Sequence[CallRecord]) -> None:
        rows = jsoncodec.dumps([_row(record) for record in records])
        with self.db:
            self.db.execute(_INSERT, (rows,))

    def prune(self, before: float) -> int:
        """Forget the records of calls started before `before` (unix seconds)."""
        with self.db:
            return self.db.execute("DELETE FROM calls WHERE started < ?", (before,)).rowcount

    def today(self, since: float) -> list[TodayRow]:
        """Sums of the calls started at `since` or later, by serving provider and key."""
        rows = self.db.execute(
            "SELECT provider, key, count(*), sum(input_tokens), sum(output_tokens),"
            " sum(reasoning_tokens), sum(cached_tokens), sum(cost)"
            " FROM calls WHERE started >= ? GROUP BY provider, key",
            (since,),
        )
        return [
            (provider, key, calls, Usage(inp or 0, out or 0, thought or 0, cached or 0), cost or 0)
            for provider, key, calls, inp, out, thought, cached, cost in rows
        ]

    def rows(self, where: str = "", params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """Records as dicts (hops parsed), oldest first: for tests and debugging."""
        cursor = self.db.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM calls {where} ORDER BY id", tuple(params)
        )
        found = []
        for values in cursor:
            row = dict(zip(_COLUMNS, values, strict=True))
            row["hops"] = json.loads(row["hops"])
            found.append(row)
        return found
