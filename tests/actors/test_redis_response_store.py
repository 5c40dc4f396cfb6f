"""RedisResponseStore against a real redis-server, and the same battery over the SQLite store
wherever the two promise the same thing."""

import contextlib
import gc
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import coredis
import pytest
import trio
from loguru import logger

from actors.store import ItemPage, ResponseStore, ResponseStoreLike, StoredResponse, StoreError
from actors.store.redis_responses import RedisResponseStore
from tests.actors.test_response_store import ids, message, response
from tests.redis_server import RedisServer, redis_server

KINDS = ["sqlite", "redis"]
# coredis 6.9 leaves a connection's anyio memory streams unclosed when its connect fails
# (`BaseConnection.run` enters them only after `_connect()`), and anyio warns when they are
# collected. Harmless (the garbage collector frees them) and not baton's; collected here, in
# each test, so that no warning escapes to the end of the session.
_COREDIS_LEAK = "ignore:Unclosed <MemoryObject:ResourceWarning"
pytestmark = pytest.mark.filterwarnings(_COREDIS_LEAK)


@pytest.fixture(autouse=True)
def collect_coredis_leaks() -> Iterator[None]:
    yield
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Unclosed <MemoryObject", ResourceWarning)
        gc.collect()


def wall_clock() -> float:
    return 1000.0  # the same for every put: the newest is the one stored last, in both stores


@asynccontextmanager
async def serving(store: ResponseStoreLike) -> AsyncIterator[None]:
    async with trio.open_nursery() as nursery:
        await nursery.start(store.run)
        yield
        nursery.cancel_scope.cancel()


def redis_store(server: RedisServer, **options: Any) -> RedisResponseStore:
    store = RedisResponseStore.from_url(server.url, **{"cluster": "test", **options})
    store.wall_clock = wall_clock
    return store


@asynccontextmanager
async def running(kind: str) -> AsyncIterator[ResponseStoreLike]:
    store: ResponseStoreLike
    if kind == "sqlite":
        store = ResponseStore.open(None, wall_clock=wall_clock)
        async with serving(store):
            yield store
        return
    async with redis_server() as server:
        store = RedisResponseStore.from_url(server.url, cluster="test")
        store.wall_clock = wall_clock
        async with serving(store):
            yield store


@contextmanager
def logged(level: str = "WARNING") -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lambda line: lines.append(str(line)), level=level, format="{message}")
    try:
        yield lines
    finally:
        logger.remove(sink)


# ---- the battery: both stores ----------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_a_response_and_its_items_round_trip(kind: str) -> None:
    stored = {
        "id": "resp_1",
        "object": "response",
        "output": [message("msg_out", "héllo \ud800"), {"type": "reasoning", "summary": []}],
        "usage": {"input_tokens": 3},
    }
    inputs = [message("msg_in"), message(None, "no id"), message("", "empty id")]
    with trio.fail_after(10):
        async with running(kind) as store:
            await store.put(stored, inputs)
            got = await store.get("resp_1")
            assert got == StoredResponse(stored, inputs, created_at=1000.0)
            assert list(got.response) == ["id", "object", "output", "usage"]
            assert await store.get("resp_2") is None
            assert await store.find_item("msg_out") == stored["output"][0]
            assert await store.find_item("") == message("", "empty id")
            no_output = {"id": "r2", "output": None}
            await store.put(no_output, [])
            assert await store.get("r2") == StoredResponse(no_output, [], 1000.0)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_put_nowait_is_seen_by_the_next_request(kind: str) -> None:
    with trio.fail_after(10):
        async with running(kind) as store:
            for n in range(20):
                store.put_nowait(response(f"r{n}", message(f"o{n}")), [message(f"i{n}")])
            assert await store.find_item("i19") == message("i19")
            got = await store.get("r19")
            assert got is not None and got.response["output"] == [message("o19")]


@pytest.mark.parametrize("kind", KINDS)
async def test_putting_the_same_response_again_replaces_it(kind: str) -> None:
    with trio.fail_after(10):
        async with running(kind) as store:
            await store.put(response("r", message("o1")), [message("a"), message("b")])
            await store.put(response("r", message("o2")), [message("c")])
            got = await store.get("r")
            assert got is not None
            assert (got.response, got.input_items) == (response("r", message("o2")), [message("c")])
            assert await store.find_item("a") is None and await store.find_item("o1") is None
            assert await store.find_item("c") == message("c")


@pytest.mark.parametrize("kind", KINDS)
async def test_delete_removes_the_response_and_only_its_items(kind: str) -> None:
    with trio.fail_after(10):
        async with running(kind) as store:
            await store.put(response("r1", message("o1")), [message("i1")])
            await store.put(response("r2", message("o2")), [message("i2")])
            assert await store.delete("r1") is True
            assert await store.get("r1") is None
            assert await store.find_item("i1") is None and await store.find_item("o1") is None
            assert await store.input_items("r1", limit=5) == ItemPage([], has_more=False)
            assert await store.delete("r1") is False
            assert await store.find_item("o2") == message("o2")
            assert await store.get("r2") is not None


@pytest.mark.parametrize("kind", KINDS)
async def test_find_item_takes_the_newest_response_that_holds_it(kind: str) -> None:
    with trio.fail_after(10):
        async with running(kind) as store:
            await store.put(response("r1", message("call", "v1-out")), [message("m", "v1")])
            await store.put(response("r2"), [message("m", "v2"), message("call", "v2-in")])
            assert await store.find_item("m") == message("m", "v2")
            assert await store.find_item("call") == message("call", "v2-in")
            await store.put(response("r3"), [message("m", "a"), message("m", "b")])
            assert await store.find_item("m") == message("m", "b")  # the last position
            await store.delete("r3")
            await store.delete("r2")
            assert await store.find_item("m") == message("m", "v1")
            assert await store.find_item("call") == message("call", "v1-out")
            assert await store.find_item("nothing") is None


@pytest.mark.parametrize("kind", KINDS)
async def test_input_items_are_paged_in_either_order(kind: str) -> None:
    inputs = [message(f"i{n}") for n in range(5)]
    with trio.fail_after(10):
        async with running(kind) as store:
            await store.put(response("r", message("out")), inputs)
            first = await store.input_items("r", limit=2, order="asc")
            assert (ids(first), first.has_more) == (["i0", "i1"], True)
            second = await store.input_items("r", limit=2, order="asc", after="i1")
            assert (ids(second), second.has_more) == (["i2", "i3"], True)
            last = await store.input_items("r", limit=2, order="asc", after="i3")
            assert (ids(last), last.has_more) == (["i4"], False)
            exact = await store.input_items("r", limit=5, order="asc")
            assert (len(exact.items), exact.has_more) == (5, False)
            newest = await store.input_items("r", limit=2)  # desc is the default
            assert (ids(newest), newest.has_more) == (["i4", "i3"], True)
            rest = await store.input_items("r", limit=10, order="desc", after="i3")
            assert (ids(rest), rest.has_more) == (["i2", "i1", "i0"], False)
            edge = await store.input_items("r", limit=3, order="desc", after="i3")
            assert (ids(edge), edge.has_more) == (["i2", "i1", "i0"], False)
            assert await store.input_items("r", limit=2, after="i0") == ItemPage([], False)
            assert await store.input_items("r", limit=2, order="asc", after="i4") == ItemPage(
                [], False
            )
            assert await store.input_items("r", limit=2, after="out") == ItemPage([], False)
            assert await store.input_items("r", limit=2, after="nope") == ItemPage([], False)
            assert await store.input_items("nope", limit=2) == ItemPage([], False)
            with pytest.raises(StoreError, match="limit"):
                await store.input_items("r", limit=0)
            with pytest.raises(StoreError, match="order"):
                await store.input_items("r", limit=1, order="sideways")  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", KINDS)
async def test_repeated_ids_and_items_without_ids_are_all_kept(kind: str) -> None:
    history = [message("a", "1"), message(None, "2"), message("a", "3"), message(None, "4")]
    with trio.fail_after(10):
        async with running(kind) as store:
            await store.put(response("r1", message("a", "out")), history)
            got = await store.get("r1")
            assert got is not None and got.input_items == history
            assert await store.find_item("a") == message("a", "out")  # output, then input
            asc = await store.input_items("r1", limit=10, order="asc", after="a")
            assert asc.items == history[1:]  # after the first "a"
            desc = await store.input_items("r1", limit=10, order="desc", after="a")
            assert desc.items == [message(None, "2"), message("a", "1")]  # before the last


@pytest.mark.parametrize("kind", KINDS)
async def test_a_bad_request_fails_alone(kind: str) -> None:
    with trio.fail_after(10):
        async with running(kind) as store:
            with pytest.raises(StoreError, match="not JSON serializable"):
                await store.put(response("r1", {"id": "o", "x": object()}), [])
            with logged() as warnings:
                store.put_nowait({"no": "id"}, [])  # logged and dropped
                await store.put(response("r1"), [])
            assert any("string 'id'" in line for line in warnings)
            assert await store.get("r1") is not None


# ---- Redis only ------------------------------------------------------------------------------


async def keys_and_ttls(server: RedisServer) -> dict[str, int]:
    client = coredis.Redis(host=server.host, port=server.port, decode_responses=True)
    async with client:
        return {key: await client.pttl(key) async for key in client.scan_iter("baton:*")}


async def test_the_keys_are_as_documented_and_every_one_expires() -> None:
    with trio.fail_after(10):
        async with redis_server() as server:
            store = redis_store(server, ttl=3600.0)
            async with serving(store):
                await store.put(response("r1", message("o1")), [message("i1"), message(None)])
            ttls = await keys_and_ttls(server)
    assert sorted(ttls) == [
        f"baton:test:{name}"
        for name in (
            "in:r1", "inids:r1", "item:i1", "item:o1", "out:r1", "outids:r1", "resp:r1", "seq",
        )
    ]  # fmt: skip
    assert all(3_590_000 < ttl <= 3_600_000 for ttl in ttls.values()), ttls


async def test_a_response_expires_after_its_ttl() -> None:
    with trio.fail_after(10):
        async with redis_server() as server:
            store = redis_store(server, ttl=0.3)
            async with serving(store):
                await store.put(response("r1", message("o1")), [message("i1")])
                assert await store.get("r1") is not None
                await trio.sleep(0.5)
                assert await store.get("r1") is None
                assert await store.find_item("i1") is None
                assert await store.input_items("r1", limit=5) == ItemPage([], False)
            assert await keys_and_ttls(server) == {}


async def test_a_response_over_the_size_bound_is_not_stored() -> None:
    big = [{"id": "i", "text": "x" * 1000}]
    with trio.fail_after(10):
        async with redis_server() as server:
            store = redis_store(server, max_bytes=1000)
            async with serving(store):
                with logged() as warnings:
                    store.put_nowait(response("big"), big)
                    assert await store.get("big") is None
                    with pytest.raises(StoreError, match="too large"):
                        await store.put(response("big"), big)
                    await store.put(response("small"), [{"id": "i", "text": "x" * 900}])
                assert await store.get("small") is not None
    assert len([line for line in warnings if "over the 1000 allowed" in line]) == 2


async def test_instances_on_one_redis_share_their_responses() -> None:
    with trio.fail_after(10):
        async with redis_server() as server:
            a, b, other = (
                redis_store(server),
                redis_store(server),
                redis_store(server, cluster="other"),
            )
            async with serving(a), serving(b), serving(other):
                a.put_nowait(response("r1", message("o1")), [message("i1"), message("i2")])
                assert await a.get("r1") is not None  # served: written to Redis
                got = await b.get("r1")
                assert got == StoredResponse(
                    response("r1", message("o1")), [message("i1"), message("i2")], 1000.0
                )
                assert await b.find_item("o1") == message("o1")
                page = await b.input_items("r1", limit=1, order="asc")
                assert page == ItemPage([message("i1")], has_more=True)
                assert await other.get("r1") is None  # another cluster's namespace
                await b.put(response("r2"), [message("i1", "newer")])
                assert await a.find_item("i1") == message("i1", "newer")
                assert await b.delete("r1") is True
                assert await a.get("r1") is None
                assert await a.delete("r1") is False


async def test_redis_down_answers_as_empty_and_drops_puts_with_one_warning() -> None:
    with trio.fail_after(20):
        async with redis_server() as server:
            store = redis_store(server, timeout=1.0, retry_every=0.2)
            async with serving(store):
                await store.put(response("r1", message("o1")), [message("i1")])
                await server.stop()
                with logged("INFO") as lines:
                    for n in range(3):
                        store.put_nowait(response(f"down{n}"), [])
                    assert await store.get("r1") is None
                    assert await store.find_item("i1") is None
                    assert await store.delete("r1") is False
                    assert await store.input_items("r1", limit=5) == ItemPage([], False)
                    with pytest.raises(StoreError, match="unavailable"):
                        await store.put(response("r2"), [])
                    assert len(lines) == 1 and "Redis is unavailable" in lines[0], lines
                    await server.start()  # empty: persistence is off
                    with trio.fail_after(5):
                        while await store.get("r1") is None:
                            await trio.sleep(0.05)
                            with contextlib.suppress(StoreError):  # until it tries again
                                await store.put(response("r1"), [])
                    assert await store.find_item("i1") is None
                    store.put_nowait(response("r3"), [message("i3")])
                    assert await store.find_item("i3") == message("i3")
                assert sum("Redis is back" in line for line in lines) == 1, lines
                assert sum("unavailable" in line for line in lines) == 1, lines


async def test_the_store_starts_while_redis_is_down() -> None:
    with trio.fail_after(20):
        async with redis_server() as server:
            await server.stop()
            store = redis_store(server, timeout=1.0, retry_every=0.0)
            async with serving(store):
                assert await store.get("r1") is None
                await server.start()
                await store.put(response("r1"), [])
                assert await store.get("r1") is not None


async def test_a_stopped_store_answers_as_empty_instead_of_raising() -> None:
    with trio.fail_after(10):
        async with redis_server() as server:
            store = redis_store(server)
            async with serving(store):
                await store.put(response("r1"), [])
            with logged() as warnings:
                assert await store.get("r1") is None
                assert await store.delete("r1") is False
                store.put_nowait(response("r2"), [])
            assert len(warnings) == 3, warnings


async def test_find_item_falls_back_past_an_expired_response() -> None:
    with trio.fail_after(10):
        async with redis_server() as server:
            lasting, brief = redis_store(server, ttl=60.0), redis_store(server, ttl=0.3)
            async with serving(lasting), serving(brief):
                await lasting.put(response("old"), [message("m", "old")])
                await brief.put(response("new"), [message("m", "new")])
                assert await lasting.find_item("m") == message("m", "new")
                await trio.sleep(0.5)
                assert await lasting.find_item("m") == message("m", "old")
                client = coredis.Redis(host=server.host, port=server.port, decode_responses=True)
                async with client:  # the stale entry is gone from the index
                    assert await client.zrange("baton:test:item:m", 0, -1) == ("old",)
