import pytest

from actors.keypool import Busy, CooldownPolicy, Cooling, KeyPool
from config.model import Credential
from protocols.failures import FailureClass, UpstreamFailure

KEYS = tuple(Credential(f"k{i}", f"secret-{i}") for i in range(3))
RATE = UpstreamFailure(FailureClass.RATE_LIMIT, "slow down", status=429)
AUTH = UpstreamFailure(FailureClass.AUTH, "bad key", status=401)
SERVER = UpstreamFailure(FailureClass.SERVER, "boom", status=500)


def rate(retry_after: float | None) -> UpstreamFailure:
    return UpstreamFailure(
        FailureClass.RATE_LIMIT, "slow down", status=429, retry_after=retry_after
    )


def test_balanced_rotation_takes_keys_in_turn() -> None:
    pool = KeyPool(KEYS)
    picks = []
    for _ in range(6):
        index = pool.acquire("m", now=0)
        picks.append(index)
        pool.release(index)
    assert picks == [0, 1, 2, 0, 1, 2]


def test_balanced_rotation_prefers_the_least_loaded_key() -> None:
    pool = KeyPool(KEYS)
    assert [pool.acquire("m", 0) for _ in range(3)] == [0, 1, 2]
    pool.release(1)
    assert pool.acquire("m", 0) == 1


def test_sequential_rotation_sticks_to_the_first_usable_key() -> None:
    pool = KeyPool(KEYS, rotation="sequential")
    assert [pool.acquire("m", 0) for _ in range(3)] == [0, 0, 0]
    pool.record_failure(0, "m", rate(5), now=0)
    assert pool.acquire("m", 1) == 1


def test_concurrency_cap_makes_the_pool_busy() -> None:
    pool = KeyPool(KEYS[:2], max_concurrent=2)
    assert [pool.acquire("m", 0) for _ in range(4)] == [0, 1, 0, 1]
    assert pool.acquire("m", 0) == Busy()
    pool.release(1)
    assert pool.acquire("m", 0) == 1
    with pytest.raises(ValueError):
        KeyPool(KEYS[:1]).release(0)


def test_retry_after_is_honoured_exactly_and_per_model() -> None:
    pool = KeyPool(KEYS[:1])
    pool.record_failure(0, "m", rate(2.5), now=100.0)
    assert pool.cooling_until(0, "m", 100.0) == 102.5
    assert pool.acquire("m", 102.4) == Cooling(102.5)
    assert pool.acquire("other-model", 101.0) == 0  # rate limits are per model
    pool.release(0)
    assert pool.acquire("m", 102.5) == 0


def test_cooldowns_climb_the_ladder_extend_never_shorten_and_reset_on_success() -> None:
    pool = KeyPool(KEYS[:1], policy=CooldownPolicy(rate_limit=(10, 30, 60)))
    pool.record_failure(0, "m", rate(None), now=0)
    assert pool.cooling_until(0, "m", 0) == 10
    pool.record_failure(0, "m", rate(None), now=10)
    assert pool.cooling_until(0, "m", 10) == 40
    pool.record_failure(0, "m", rate(None), now=40)
    pool.record_failure(0, "m", rate(None), now=100)
    assert pool.cooling_until(0, "m", 100) == 160  # capped at the ladder's top
    pool.record_failure(0, "m", rate(1), now=101)  # a shorter Retry-After does not shorten it
    assert pool.cooling_until(0, "m", 101) == 160
    pool.record_success(0, "m")
    assert pool.cooling_until(0, "m", 101) is None
    pool.record_failure(0, "m", rate(None), now=200)
    assert pool.cooling_until(0, "m", 200) == 210  # the ladder starts again


def test_auth_failures_lock_the_key_for_every_model() -> None:
    pool = KeyPool(KEYS[:2])
    pool.record_failure(0, "m", AUTH, now=0)
    assert pool.cooling_until(0, "another", 0) == 300
    assert pool.acquire("another", 0) == 1
    pool.record_failure(0, "m", AUTH, now=300)
    assert pool.cooling_until(0, "m", 300) == 1200


def test_server_errors_do_not_cool_a_key() -> None:
    pool = KeyPool(KEYS[:1])
    pool.record_failure(0, "m", SERVER, now=0)
    assert pool.cooling_until(0, "m", 0) is None


def test_all_cooling_reports_the_first_to_free_up_and_respects_exclusions() -> None:
    pool = KeyPool(KEYS)
    pool.record_failure(0, "m", rate(30), now=0)
    pool.record_failure(1, "m", rate(5), now=0)
    assert pool.acquire("m", 0, exclude=frozenset({2})) == Cooling(5)
    assert pool.acquire("m", 0, exclude=frozenset({1, 2})) == Cooling(30)
    assert pool.acquire("m", 0, exclude=frozenset({0, 1, 2})) == Cooling(None)
    assert pool.acquire("m", 0) == 2


def test_no_secret_in_repr() -> None:
    assert "secret-" not in repr(KeyPool(KEYS))
