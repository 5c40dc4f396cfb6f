import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from actors.store import ItemPage, ResponseStore, ResponseTables, StoredResponse, StoreError
from actors.store.responses import INBOX_SIZE

# ---- the tables ----------------------------------------------------------------------------


@pytest.fixture
def tables() -> Iterator[ResponseTables]:
    tables = ResponseTables.connect(None)
    yield tables
    tables.close()


def response(response_id: str, *output: dict[str, Any]) -> dict[str, Any]:
    return {"id": response_id, "object": "response", "status": "completed", "output": [*output]}


def message(item_id: str | None, text: str = "hi") -> dict[str, Any]:
    item = {"type": "message", "role": "user", "content": text}
    return item if item_id is None else {"id": item_id, **item}


def ids(page: ItemPage) -> list[str | None]:
    return [item.get("id") for item in page.items]


def test_a_response_and_its_items_round_trip_as_compact_json(tables: ResponseTables) -> None:
    stored = {
        "id": "resp_1",
        "object": "response",
        "output": [message("msg_out", "héllo"), {"type": "reasoning", "summary": []}],
        "usage": {"input_tokens": 3},
    }
    inputs = [message("msg_in"), message(None, "no id")]
    tables.put(stored, inputs, now=100.5)

    got = tables.get("resp_1")
    assert got == StoredResponse(stored, inputs, created_at=100.5)
    assert got is not None and list(got.response) == ["id", "object", "output", "usage"]
    assert tables.get("resp_2") is None
    rows = tables.db.execute(
        "SELECT kind, position, item_id, json FROM items ORDER BY kind, position"
    ).fetchall()
    assert rows == [
        ("input", 0, "msg_in", '{"id":"msg_in","type":"message","role":"user","content":"hi"}'),
        ("input", 1, None, '{"type":"message","role":"user","content":"no id"}'),
        (
            "output",
            0,
            "msg_out",
            '{"id":"msg_out","type":"message","role":"user","content":"h\\u00e9llo"}',
        ),
        ("output", 1, None, '{"type":"reasoning","summary":[]}'),
    ]
    # output items are stored once, as items, not again inside the response
    (body,) = tables.db.execute("SELECT json FROM responses").fetchone()
    assert body == '{"id":"resp_1","object":"response","output":[],"usage":{"input_tokens":3}}'


def test_putting_the_same_response_again_replaces_it(tables: ResponseTables) -> None:
    tables.put(response("r", message("o1")), [message("a"), message("b")], now=1)
    tables.put(response("r", message("o2")), [message("c")], now=2)
    assert tables.get("r") == StoredResponse(response("r", message("o2")), [message("c")], 2.0)
    assert tables.find_item("a") is None and tables.find_item("o1") is None
    assert tables.db.execute("SELECT COUNT(*) FROM items").fetchone() == (2,)


def test_delete_removes_the_response_and_only_its_items(tables: ResponseTables) -> None:
    tables.put(response("r1", message("o1")), [message("i1")], now=1)
    tables.put(response("r2", message("o2")), [message("i2")], now=2)
    assert tables.delete("r1") is True
    assert tables.get("r1") is None
    assert tables.find_item("i1") is None and tables.find_item("o1") is None
    assert tables.db.execute("SELECT DISTINCT response_id FROM items").fetchall() == [("r2",)]
    assert tables.delete("r1") is False
    assert tables.find_item("o2") == message("o2")


def test_find_item_takes_the_newest_response_that_holds_it(tables: ResponseTables) -> None:
    tables.put(response("r1", message("call", "v1-out")), [message("m", "v1")], now=10)
    tables.put(response("r2"), [message("m", "v2"), message("call", "v2-in")], now=20)
    tables.put(response("r0"), [message("m", "older")], now=5)  # stored last, but older
    assert tables.find_item("m") == message("m", "v2")
    assert tables.find_item("call") == message("call", "v2-in")
    tables.put(response("r3"), [message("m", "same time, stored later")], now=20)
    assert tables.find_item("m") == message("m", "same time, stored later")
    tables.delete("r3")
    tables.delete("r2")
    assert tables.find_item("m") == message("m", "v1")
    assert tables.find_item("call") == message("call", "v1-out")
    assert tables.find_item("nothing") is None


def test_repeated_item_ids_and_items_without_ids_are_all_kept(tables: ResponseTables) -> None:
    history = [message("a", "1"), message(None, "2"), message("a", "3"), message(None, "4")]
    tables.put(response("r1", message("a", "out")), history, now=1)
    tables.put(response("r2"), [*history, message("b")], now=2)  # Codex replays the history
    got = tables.get("r1")
    assert got is not None and got.input_items == history
    assert got.response["output"] == [message("a", "out")]
    assert tables.find_item("a") == message("a", "3")  # newest response, last position
    page = tables.input_items("r2", limit=10, order="asc")
    assert page == ItemPage([*history, message("b")], has_more=False)


def test_input_items_are_paged_in_either_order(tables: ResponseTables) -> None:
    inputs = [message(f"i{n}") for n in range(5)]
    tables.put(response("r", message("out")), inputs, now=1)

    first = tables.input_items("r", limit=2, order="asc")
    assert (ids(first), first.has_more) == (["i0", "i1"], True)
    second = tables.input_items("r", limit=2, order="asc", after="i1")
    assert (ids(second), second.has_more) == (["i2", "i3"], True)
    last = tables.input_items("r", limit=2, order="asc", after="i3")
    assert (ids(last), last.has_more) == (["i4"], False)
    exact = tables.input_items("r", limit=5, order="asc")
    assert (len(exact.items), exact.has_more) == (5, False)

    newest = tables.input_items("r", limit=2)  # desc is the default, as in the API
    assert (ids(newest), newest.has_more) == (["i4", "i3"], True)
    rest = tables.input_items("r", limit=10, order="desc", after="i3")
    assert (ids(rest), rest.has_more) == (["i2", "i1", "i0"], False)

    assert tables.input_items("r", limit=2, after="out") == ItemPage([], has_more=False)
    assert tables.input_items("r", limit=2, after="nope") == ItemPage([], has_more=False)
    assert tables.input_items("nope", limit=2) == ItemPage([], has_more=False)
    with pytest.raises(ValueError):
        tables.input_items("r", limit=0)
    with pytest.raises(ValueError):
        tables.input_items("r", limit=1, order="sideways")  # type: ignore[arg-type]


def test_prune_by_age_deletes_only_what_is_older_than_max_age(tables: ResponseTables) -> None:
    for n, created in enumerate((0.0, 10.0, 20.0)):
        tables.put(response(f"r{n}", message(f"o{n}")), [message(f"i{n}")], now=created)
    assert tables.prune(now=110.0, max_age=100.0, max_bytes=10**9) == 1
    assert tables.get("r0") is None and tables.find_item("i0") is None
    assert tables.get("r1") is not None  # exactly max_age old: kept
    assert tables.prune(now=110.0, max_age=100.0, max_bytes=10**9) == 0
    assert tables.prune(now=1000.0, max_age=100.0, max_bytes=10**9) == 2
    assert tables.db.execute("SELECT COUNT(*) FROM items").fetchone() == (0,)


def test_prune_by_size_deletes_the_oldest_until_the_rest_fit(tables: ResponseTables) -> None:
    # each response: '{"id":"rN","output":[]}' (23 bytes) + '{"id":"iN","text":"xxxxxxxxxx"}' (31)
    for n, created in enumerate((30.0, 10.0, 20.0, 40.0)):
        stored = {"id": f"r{n}", "output": []}
        tables.put(stored, [{"id": f"i{n}", "text": "x" * 10}], now=created)
    assert tables.total_bytes() == 4 * 54
    assert tables.prune(now=50.0, max_age=100.0, max_bytes=4 * 54) == 0
    assert tables.prune(now=50.0, max_age=100.0, max_bytes=3 * 54 - 1) == 2
    assert [tables.get(f"r{n}") is not None for n in range(4)] == [True, False, False, True]
    assert tables.total_bytes() == 2 * 54
    # age first, then size: r0 (age 105) goes for its age, which leaves r3 within 54 bytes
    assert tables.prune(now=135.0, max_age=100.0, max_bytes=54) == 1
    assert tables.get("r3") is not None
    assert tables.prune(now=135.0, max_age=100.0, max_bytes=0) == 1
    assert tables.total_bytes() == 0


def test_a_response_without_an_id_is_refused(tables: ResponseTables) -> None:
    with pytest.raises(ValueError):
        tables.put({"object": "response"}, [], now=0)


def test_a_file_store_uses_wal_a_schema_version_and_gives_pruned_space_back(
    tmp_path: Path,
) -> None:
    path = tmp_path / "data" / "responses.sqlite3"
    tables = ResponseTables.connect(path)
    empty = tables.db.execute("PRAGMA page_count").fetchone()[0]
    for n in range(20):
        tables.put(response(f"r{n}"), [{"id": f"i{n}", "text": "x" * 20_000}], now=n)
    assert tables.db.execute("PRAGMA page_count").fetchone()[0] > empty + 100
    assert tables.prune(now=100.0, max_age=1.0, max_bytes=10**9) == 20
    assert tables.db.execute("PRAGMA freelist_count").fetchone() == (0,)
    assert tables.db.execute("PRAGMA page_count").fetchone()[0] == empty
    tables.close()
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("PRAGMA auto_vacuum").fetchone() == (2,)  # incremental
        assert db.execute("PRAGMA user_version").fetchone() == (1,)
        db.execute("PRAGMA user_version = 7")
    finally:
        db.close()
    with pytest.raises(StoreError, match="schema version 7"):
        ResponseTables.connect(path)


# ---- the actor -----------------------------------------------------------------------------


class WallClock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_the_actor_serves_every_request() -> None:
    store = ResponseStore.open(None, wall_clock=WallClock(7.0))
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await nursery.start(store.run)
            await store.put(response("r1", message("o1")), [message("i1"), message("i2")])
            assert await store.get("r1") == StoredResponse(
                response("r1", message("o1")), [message("i1"), message("i2")], 7.0
            )
            assert await store.find_item("o1") == message("o1")
            page = await store.input_items("r1", limit=1, order="asc")
            assert page == ItemPage([message("i1")], has_more=True)
            store.put_nowait(response("r2"), [message("i3")])
            assert await store.find_item("i3") == message("i3")  # served in order
            assert await store.delete("r1") is True
            assert await store.delete("r1") is False
            assert await store.get("r1") is None
            nursery.cancel_scope.cancel()


async def test_a_bad_request_fails_alone() -> None:
    store = ResponseStore.open(None)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await nursery.start(store.run)
            with pytest.raises(StoreError, match="not JSON serializable"):
                await store.put(response("r1", {"id": "o", "x": object()}), [])
            store.put_nowait({"no": "id"}, [])  # logged and dropped
            with pytest.raises(StoreError, match="limit"):
                await store.input_items("r1", limit=0)
            await store.put(response("r1"), [])
            assert await store.get("r1") is not None
            nursery.cancel_scope.cancel()


async def test_requests_fail_instead_of_hanging_once_the_store_stops() -> None:
    store = ResponseStore.open(None)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await nursery.start(store.run)
            nursery.cancel_scope.cancel()
        with pytest.raises(StoreError, match="not running"):
            await store.get("r1")
        store.put_nowait(response("r1"), [])  # logged and dropped


async def test_put_nowait_drops_what_a_full_inbox_cannot_hold() -> None:
    store = ResponseStore.open(None)
    for n in range(INBOX_SIZE + 1):  # sent before the store runs: nothing is served yet
        store.put_nowait(response(f"r{n}"), [])
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await nursery.start(store.run)
            assert await store.get(f"r{INBOX_SIZE - 1}") is not None
            assert await store.get(f"r{INBOX_SIZE}") is None
            nursery.cancel_scope.cancel()


async def test_a_store_from_a_newer_baton_fails_to_start(tmp_path: Path) -> None:
    path = tmp_path / "responses.sqlite3"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 2")
    db.close()
    store = ResponseStore.open(path)
    with trio.fail_after(5):
        with pytest.raises(StoreError, match="schema version 2"):
            await store.run()
        with pytest.raises(StoreError, match="not running"):
            await store.get("r1")


async def test_everything_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "responses.sqlite3"
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            first = ResponseStore.open(path, wall_clock=WallClock(1000.0))
            await nursery.start(first.run)
            await first.put(response("r1", message("o1")), [message("i1")])
            first.put_nowait(response("r2"), [message("i2")])
            nursery.cancel_scope.cancel()
        async with trio.open_nursery() as nursery:
            second = ResponseStore.open(path, wall_clock=WallClock(2000.0))
            await nursery.start(second.run)
            assert await second.get("r1") == StoredResponse(
                response("r1", message("o1")), [message("i1")], 1000.0
            )
            assert await second.find_item("i2") == message("i2")
            nursery.cancel_scope.cancel()


async def test_pruning_runs_at_start_up(tmp_path: Path) -> None:
    path = tmp_path / "responses.sqlite3"
    clock = WallClock(0.0)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            first = ResponseStore.open(path, max_age=100.0, wall_clock=clock)
            await nursery.start(first.run)
            await first.put(response("old"), [])
            clock.now = 50.0
            await first.put(response("new"), [])
            nursery.cancel_scope.cancel()
        clock.now = 140.0
        async with trio.open_nursery() as nursery:
            second = ResponseStore.open(path, max_age=100.0, wall_clock=clock)
            await nursery.start(second.run)
            assert await second.get("old") is None
            assert await second.get("new") is not None
            nursery.cancel_scope.cancel()


# autojump_clock cannot drive this: a task waiting on a worker thread counts as blocked, so the
# clock jumps to the next deadline while every database call is still running. So the timer
# runs in real time, with a short interval, and the wall clock the store ages by is faked.
@pytest.mark.parametrize(("prune_every", "pruned"), [(0.05, True), (3600.0, False)])
async def test_pruning_runs_on_a_timer(prune_every: float, pruned: bool) -> None:
    clock = WallClock(0.0)
    store = ResponseStore.open(None, max_age=100.0, prune_every=prune_every, wall_clock=clock)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await nursery.start(store.run)
            await store.put(response("r1"), [message("i1")])
            clock.now = 1000.0
            await trio.sleep(0.2)
            assert (await store.get("r1") is None) is pruned
            assert (await store.find_item("i1") is None) is pruned
            nursery.cancel_scope.cancel()
