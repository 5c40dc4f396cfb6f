"""KeyPool snapshots: plain data, keys by alias, times as offsets, aged on restore."""

import json

import pytest

from actors.keypool import FORGET_AFTER, Cooling, KeyPool
from config.model import Credential
from protocols.failures import FailureClass, UpstreamFailure

KEYS = tuple(Credential(f"k{i}", f"secret-{i}") for i in range(3))
AUTH = UpstreamFailure(FailureClass.AUTH, "bad key", status=401)
CLAUDE = {"claude": ("c1", "c2")}


def rate(retry_after: float | None = None) -> UpstreamFailure:
    return UpstreamFailure(
        FailureClass.RATE_LIMIT, "slow down", status=429, retry_after=retry_after
    )


def cooled_pool() -> KeyPool:
    pool = KeyPool(KEYS, quota_groups=CLAUDE)
    pool.record_failure(0, "m", rate(30), now=100)
    pool.record_failure(1, "c1", rate(), now=100)
    pool.record_failure(2, "m", AUTH, now=90)
    return pool


def test_a_snapshot_is_plain_data_with_offsets_from_now() -> None:
    snapshot = cooled_pool().snapshot(100)
    assert snapshot == {
        "version": 1,
        "cooldowns": [
            {"key": "k0", "model": "m", "ends_in": 30, "strikes": 1},
            {"key": "k1", "group": "claude", "ends_in": 10, "strikes": 1},
            {"key": "k2", "all_models": True, "ends_in": 290, "strikes": 1, "cause": "auth"},
        ],
        "recent": [
            {"key": "k0", "model": "m", "ago": 0},
            {"key": "k1", "group": "claude", "ago": 0},
        ],
    }
    assert json.loads(json.dumps(snapshot)) == snapshot
    assert "secret" not in json.dumps(snapshot)


def test_restore_ages_by_the_time_down_and_finds_keys_by_alias() -> None:
    snapshot = cooled_pool().snapshot(100)
    reordered = (KEYS[2], KEYS[0], Credential("new", "secret-new"))  # k1 is gone
    pool = KeyPool(reordered, quota_groups=CLAUDE)
    pool.restore(snapshot, now=5000, elapsed=20)
    assert pool.cooling_until(1, "m", 5000) == 5010
    assert pool.cooling_until(0, "anything", 5000) == 5270
    assert pool.cooling_until(2, "m", 5000) is None
    assert pool.acquire("m", 5000) == 2
    assert pool.snapshot(5000) == {
        "version": 1,
        "cooldowns": [
            {"key": "k0", "model": "m", "ends_in": 10, "strikes": 1},
            {"key": "k2", "all_models": True, "ends_in": 270, "strikes": 1, "cause": "auth"},
        ],
        "recent": [{"key": "k0", "model": "m", "ago": 20}],
    }
    pool.record_failure(1, "m", rate(), now=5010)
    assert pool.cooling_until(1, "m", 5010) == 5040  # the strikes came back too


def test_a_cooldown_that_ended_while_down_is_half_open_after_the_restart() -> None:
    pool = KeyPool(KEYS[:1])
    pool.restore(cooled_pool().snapshot(100), now=0, elapsed=50)
    assert pool.acquire("m", 0) == 0  # the probe
    assert pool.acquire("m", 0) == Cooling(5)
    pool.release(0, "m")
    pool.record_failure(0, "m", rate(), now=1)
    assert pool.cooling_until(0, "m", 1) == 31  # strike 2


def test_restore_follows_quota_groups_as_configured_now() -> None:
    before = KeyPool(KEYS[:1])
    before.record_failure(0, "c1", rate(), now=0)
    grouped = KeyPool(KEYS[:1], quota_groups=CLAUDE)
    grouped.restore(before.snapshot(0), now=0)
    assert grouped.cooling_until(0, "c2", 0) == 10  # c1 has joined a group since

    ungrouped = KeyPool(KEYS[:2])
    ungrouped.restore(cooled_pool().snapshot(100), now=100)
    assert ungrouped.cooling_until(1, "c1", 100) is None  # its group is gone


def test_long_ended_cooldowns_are_forgotten_and_bad_versions_refused() -> None:
    pool = cooled_pool()
    assert pool.snapshot(390 + FORGET_AFTER)["cooldowns"] == []
    assert pool.cooling_until(2, "m", 390 + FORGET_AFTER) is None
    with pytest.raises(ValueError, match="version"):
        pool.restore({"version": 99}, now=0)
