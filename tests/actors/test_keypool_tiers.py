"""Key tiers, per-tier concurrency multipliers and rotation tolerance, with exact numbers."""

import random

from actors.key_choice import KeyChooser, weights
from actors.keypool import Busy, KeyPool
from config.model import Credential, ProviderConfig
from protocols.failures import FailureClass, UpstreamFailure

RATE = UpstreamFailure(FailureClass.RATE_LIMIT, "slow down", status=429, retry_after=10)
PAID = tuple(Credential(f"p{i}", f"paid-{i}", tier=1) for i in range(2))
FREE = tuple(Credential(f"f{i}", f"free-{i}", tier=2) for i in range(2))


def test_free_keys_serve_only_when_paid_ones_cannot() -> None:
    pool = KeyPool((FREE[0], PAID[0], FREE[1], PAID[1]), max_concurrent=1)
    assert [pool.acquire("m", 0) for _ in range(4)] == [1, 3, 0, 2]
    assert pool.acquire("m", 0) == Busy()
    for index in range(4):
        pool.release(index)
    pool.record_failure(1, "m", RATE, now=0)
    pool.record_failure(3, "m", RATE, now=0)
    assert pool.acquire("m", 1) == 0  # both paid keys cooling: free ones step in


def test_tier_multiplier_scales_the_cap() -> None:
    pool = KeyPool((PAID[0], FREE[0]), max_concurrent=2, tier_multipliers={1: 3})
    assert (pool.cap(0), pool.cap(1)) == (6, 2)
    picks = [pool.acquire("m", 0) for _ in range(8)]
    assert picks == [0, 0, 0, 0, 0, 0, 1, 1]
    assert pool.acquire("m", 0) == Busy()


def test_no_cap_stays_no_cap_whatever_the_multiplier() -> None:
    pool = KeyPool(PAID, tier_multipliers={1: 3})
    assert pool.cap(0) is None


def test_sequential_keeps_to_the_lowest_tier() -> None:
    pool = KeyPool((FREE[0], PAID[0], PAID[1]), rotation="sequential")
    assert [pool.acquire("m", 0) for _ in range(3)] == [1, 1, 1]


def test_weights_follow_the_original_formula() -> None:
    # (most uses - own uses) + tolerance + 1
    assert weights([0, 1, 2], [5, 2, 0], 3.0) == [4.0, 7.0, 9.0]
    assert weights([0, 1], [0, 0], 0.5) == [1.5, 1.5]


def test_tolerance_draws_with_a_seeded_random() -> None:
    keys = tuple(Credential(f"k{i}", f"s{i}") for i in range(3))
    pool = KeyPool(keys, tolerance=2.0, rng=random.Random(7))
    picks = []
    for _ in range(12):
        index = pool.acquire("m", 0)
        assert isinstance(index, int)
        picks.append(index)
        pool.release(index)
    expected_rng = random.Random(7)
    uses = [0, 0, 0]
    expected = []
    for _ in range(12):
        chosen = expected_rng.choices([0, 1, 2], weights([0, 1, 2], uses, 2.0))[0]
        uses[chosen] += 1
        expected.append(chosen)
    assert picks == expected
    assert picks != [0, 1, 2] * 4  # it is random, not in turn
    assert pool.uses == [picks.count(0), picks.count(1), picks.count(2)]


def test_tolerance_favours_the_less_used_key() -> None:
    chooser = KeyChooser(tolerance=0.5, rng=random.Random(1))
    counts = [0, 0]
    for _ in range(1000):
        counts[chooser.choose([0, 1], [1, 1], [0, 0], [10, 0])] += 1
    # weights 0.5 + 1 = 1.5 against 10 + 0.5 + 1 = 11.5: about 115 to 885
    assert 80 < counts[0] < 160


def test_zero_tolerance_is_todays_rotation() -> None:
    keys = tuple(Credential(f"k{i}", f"s{i}") for i in range(3))
    pool = KeyPool(keys, rng=random.Random(3))
    picks = []
    for _ in range(6):
        index = pool.acquire("m", 0)
        assert isinstance(index, int)
        picks.append(index)
        pool.release(index)
    assert picks == [0, 1, 2, 0, 1, 2]


def test_for_provider_takes_the_new_fields() -> None:
    provider = ProviderConfig(
        name="p",
        base_url="http://h/v1",
        keys=(PAID[0], FREE[0]),
        max_concurrent_per_key=2,
        tier_multipliers={2: 4},
        rotation_tolerance=1.5,
    )
    pool = KeyPool.for_provider(provider)
    assert (pool.cap(0), pool.cap(1), pool.tolerance) == (2, 8, 1.5)
