"""The state keeper: save what changed, restore aged by the time down, reset days on time."""

from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

import trio

from actors.keypool import KeyPool
from actors.ratelimit_book import DAY, Go, RateLimitBook, WaitUntil, next_reset
from actors.state_keeper import Kept, StateKeeper
from actors.store import ProviderState, StateTables
from config.model import Credential, Limits, RateLimits
from protocols.failures import FailureClass, UpstreamFailure

KEYS = (Credential("k0", "secret-0"), Credential("k1", "secret-1"))
RATE_120 = UpstreamFailure(FailureClass.RATE_LIMIT, "slow", status=429, retry_after=120)


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def keeper(
    path: Path | None = None, daily_reset: time | None = None, **options: Any
) -> StateKeeper:
    book = RateLimitBook(RateLimits(Limits(rpd=2)))
    kept = {"alpha": Kept(KeyPool(KEYS), book, daily_reset)}
    return StateKeeper(path, kept, **options)


def test_next_reset_is_the_next_such_utc_time_of_day() -> None:
    assert next_reset(at("2026-11-22T03:00:00"), time(0, 0)) == at("2026-11-23T00:00:00")
    assert next_reset(at("2026-11-22T03:00:00"), time(7, 30)) == at("2026-11-22T07:30:00")
    assert next_reset(at("2026-11-22T07:30:00"), time(7, 30)) == at("2026-11-23T07:30:00")
    assert DAY == 86_400


def test_a_round_trip_through_the_file_ages_everything_by_the_time_down(tmp_path: Path) -> None:
    wall = at("2026-11-22T03:00:00")
    first = keeper()
    first.restore({}, now=0, wall=wall)
    alpha = first.kept["alpha"]
    alpha.pool.record_failure(0, "m", RATE_120, now=10)  # cooling until 130
    alpha.book.record("k0", "m", 1, now=10)
    states = first.changed(now=20, wall=wall + 20)
    assert list(states) == ["alpha"] and states["alpha"].saved_at == wall + 20
    assert first.changed(now=21, wall=wall + 21) == {}  # nothing new: nothing to save
    tables = StateTables.connect(tmp_path / "state.sqlite3")
    tables.save(states)
    tables.close()

    # A new process: new objects, a new monotonic clock, 30 s of wall clock later.
    second = keeper()
    tables = StateTables.connect(tmp_path / "state.sqlite3")
    second.restore(tables.load(), now=7, wall=wall + 50)
    tables.close()
    alpha = second.kept["alpha"]
    assert alpha.pool.cooling_until(0, "m", 7) == 87  # 110 s to go when saved, 30 s down
    assert alpha.pool.acquire("m", 7) == 1
    used = alpha.book.used("k0", "m", 7)
    assert (used.requests_minute, used.requests_day) == (1, 1)  # sent 40 s ago
    assert second.changed(now=8, wall=wall + 51) == {}


def test_a_daily_reset_missed_while_down_is_applied_at_start_up() -> None:
    saved_wall = at("2026-11-22T23:59:50")
    first = keeper()
    first.restore({}, now=0, wall=saved_wall)
    book = first.kept["alpha"].book
    for _ in range(2):
        book.record("k0", "m", 1, now=0)
    saved = first.changed(now=0, wall=saved_wall)

    same_day = keeper(daily_reset=time(0, 0))
    same_day.restore(saved, now=0, wall=saved_wall + 5)
    assert isinstance(same_day.kept["alpha"].book.decide("k0", "m", 1, now=0), WaitUntil)

    next_day = keeper(daily_reset=time(0, 0))
    next_day.restore(saved, now=0, wall=saved_wall + 20)  # 00:00:10
    book = next_day.kept["alpha"].book
    used = book.used("k0", "m", 0)
    assert (used.requests_minute, used.requests_day) == (2, 0)  # the minute still counts
    assert book.decide("k0", "m", 1, now=0) == Go()


def test_unreadable_rows_are_dropped_and_the_rest_restored() -> None:
    good = keeper()
    good.restore({}, now=0, wall=0)
    good.kept["alpha"].book.record("k0", "m", 1, now=0)
    good.kept["alpha"].pool.record_failure(0, "m", RATE_120, now=0)
    state = good.changed(now=0, wall=0)["alpha"]

    fresh = keeper()
    fresh.restore({"alpha": ProviderState({"cooldowns": 1}, state.book, 0)}, now=0, wall=0)
    assert fresh.kept["alpha"].pool.cooling_until(0, "m", 0) is None
    assert fresh.kept["alpha"].book.used("k0", "m", 0).requests_day == 1
    fresh = keeper()
    fresh.restore({"alpha": None, "gone": state}, now=0, wall=0)
    assert fresh.kept["alpha"].book.used("k0", "m", 0).requests_day == 0


# ---- the actor: real time, short intervals, a faked wall clock ----------------------------------
# (autojump_clock cannot drive it: a task waiting on a worker thread counts as blocked.)


async def test_the_actor_restores_before_it_starts_and_saves_changes_and_on_the_way_out(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.sqlite3"
    wall = at("2026-11-22T03:00:00")
    with trio.fail_after(5):
        first = keeper(path, save_every=0.05, wall_clock=lambda: wall)
        async with trio.open_nursery() as nursery:
            await nursery.start(first.run)
            first.kept["alpha"].pool.record_failure(0, "m", RATE_120, trio.current_time())
            await trio.sleep(0.2)
            tables = await trio.to_thread.run_sync(StateTables.connect, path)
            saved = await trio.to_thread.run_sync(tables.load)
            await trio.to_thread.run_sync(tables.close)
            assert saved["alpha"].pool["cooldowns"][0]["key"] == "k0"  # saved on the timer
            first.kept["alpha"].book.record("k1", "m", 1, trio.current_time())
            nursery.cancel_scope.cancel()  # saved once more on the way out

        second = keeper(path, wall_clock=lambda: wall + 100)
        async with trio.open_nursery() as nursery:
            await nursery.start(second.run)
            now = trio.current_time()
            alpha = second.kept["alpha"]
            until = alpha.pool.cooling_until(0, "m", now)
            assert until is not None and 19 < until - now <= 20  # 120 s, of which 100 s down
            assert alpha.book.used("k1", "m", now).requests_day == 1
            nursery.cancel_scope.cancel()


class WallClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_the_actor_resets_the_day_windows_when_the_time_comes() -> None:
    boundary = at("2026-11-23T00:00:00")
    clock = WallClock(boundary - 0.05)  # the keeper wakes every 0.05 s until it is midnight
    reset_keeper = keeper(daily_reset=time(0, 0), save_every=3600, wall_clock=clock)
    book = reset_keeper.kept["alpha"].book
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await nursery.start(reset_keeper.run)
            book.record("k0", "m", 1, trio.current_time())
            await trio.sleep(0.15)
            assert book.used("k0", "m", trio.current_time()).requests_day == 1
            clock.now = boundary + 1
            await trio.sleep(0.2)
            used = book.used("k0", "m", trio.current_time())
            assert (used.requests_minute, used.requests_day) == (1, 0)
            nursery.cancel_scope.cancel()
