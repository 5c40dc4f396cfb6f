"""The telemetry actor on real SQLite: batches reach the disk, an overloaded buffer drops
records from storage only (and counts them), today's sums survive a restart, old records go."""

from pathlib import Path

import trio
import trio.testing

from actors.messages import Hop
from actors.telemetry.actor import Telemetry
from actors.telemetry.record import CallRecord
from actors.telemetry.tables import TelemetryTables
from protocols.usage import Usage

NOW = 1_764_936_000.0  # 2025-12-05 12:00 UTC


def record(started: float = NOW, tokens: int = 10) -> CallRecord:
    return CallRecord(
        request_id="req_x",
        started=started,
        endpoint="chat",
        client=None,
        model="m",
        stream=False,
        status=200,
        outcome="ok",
        hops=(Hop("a", "m", "200", "a#1", latency=0.1),),
        provider="a",
        served_model="m",
        duration=0.2,
        usage=Usage(tokens, 1),
        cost=0.001,
    )


def telemetry(path: Path | None, **options: object) -> Telemetry:
    return Telemetry(path, wall_clock=lambda: NOW, **options)  # type: ignore[arg-type]


async def test_records_reach_the_disk_and_today_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "telemetry.sqlite3"
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            first = telemetry(path)
            await nursery.start(first.run)
            for _ in range(3):
                first.call_started()
                first.record(record())
            first.call_started()
            first.record(record(started=NOW - 86_400))  # yesterday's: stored, not today
            await first.flush()
            assert first.records_written == 4
            nursery.cancel_scope.cancel()
        async with trio.open_nursery() as nursery:
            second = telemetry(path)
            await nursery.start(second.run)
            assert second.book.today.calls == 3 and second.book.today.input_tokens == 30
            assert second.book.providers["a"].keys["a#1"].today.calls == 3
            assert second.book.calls == 0  # counters other than today start afresh
            nursery.cancel_scope.cancel()
    tables = TelemetryTables.connect(path)
    try:
        assert len(tables.rows()) == 4
        assert tables.rows()[0]["hops"][0]["key"] == "a#1"
    finally:
        tables.close()


async def test_a_full_buffer_drops_records_from_storage_only() -> None:
    with trio.fail_after(10):
        sink = telemetry(None, buffer=2)  # not running: nothing drains the buffer
        for _ in range(5):
            sink.call_started()
            sink.record(record())
        assert sink.records_dropped == 3
        assert sink.book.calls == 5 and sink.calls_in_flight == 0


async def test_records_older_than_the_retention_are_pruned_at_start(tmp_path: Path) -> None:
    path = tmp_path / "telemetry.sqlite3"
    tables = TelemetryTables.connect(path)
    tables.write([record(started=NOW - 10 * 86_400), record(started=NOW - 86_400)])
    tables.close()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(telemetry(path, retention=7 * 86_400.0).run)
            nursery.cancel_scope.cancel()
    tables = TelemetryTables.connect(path)
    try:
        assert [row["started"] for row in tables.rows()] == [NOW - 86_400]
    finally:
        tables.close()


async def test_a_listener_that_fails_does_not_fail_the_call() -> None:
    seen: list[str] = []

    def broken(record: CallRecord) -> None:
        seen.append(record.request_id)
        raise RuntimeError("listener bug")

    sink = telemetry(None, listeners=[broken])
    sink.call_started()
    sink.record(record())
    assert seen == ["req_x"] and sink.book.calls == 1


async def test_a_batch_still_gathering_is_written_on_the_way_out(tmp_path: Path) -> None:
    path = tmp_path / "telemetry.sqlite3"
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            sink = telemetry(path, flush_every=3600.0)
            await nursery.start(sink.run)
            sink.call_started()
            sink.record(record())
            await trio.testing.wait_all_tasks_blocked()  # the actor holds it, gathering more
            assert sink.records_written == 0
            nursery.cancel_scope.cancel()
    tables = TelemetryTables.connect(path)
    try:
        assert len(tables.rows()) == 1
    finally:
        tables.close()


async def test_a_prune_due_while_batches_are_written_loses_no_record(tmp_path: Path) -> None:
    path = tmp_path / "telemetry.sqlite3"
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            # a prune falls due again and again while batches are being written
            sink = telemetry(path, flush_every=0.0, prune_every=0.0001)
            await nursery.start(sink.run)
            for round_ in range(20):
                for _ in range(50):
                    sink.call_started()
                    sink.record(record())
                if round_ % 5 == 0:
                    await trio.sleep(0)
            await sink.flush()
            nursery.cancel_scope.cancel()
    tables = TelemetryTables.connect(path)
    try:
        assert len(tables.rows()) == 1000
    finally:
        tables.close()
