"""KeyPool cooldowns beyond one key x model: quota groups, half-open probes, stale successes,
whole-key lockouts and configured ladders. Every time is exact."""

from actors.keypool import CooldownPolicy, Cooling, KeyPool
from config.model import Credential
from protocols.failures import FailureClass, UpstreamFailure

KEYS = tuple(Credential(f"k{i}", f"secret-{i}") for i in range(3))
AUTH = UpstreamFailure(FailureClass.AUTH, "bad key", status=401)
SERVER = UpstreamFailure(FailureClass.SERVER, "boom", status=500)
CLAUDE = {"claude": ("c-opus", "c-opus-latest")}


def rate(retry_after: float | None = None) -> UpstreamFailure:
    return UpstreamFailure(
        FailureClass.RATE_LIMIT, "slow down", status=429, retry_after=retry_after
    )


# ---- quota groups ----------------------------------------------------------------------------


def test_a_quota_group_shares_one_cooldown_and_one_ladder() -> None:
    pool = KeyPool(KEYS[:2], quota_groups=CLAUDE)
    pool.record_failure(0, "c-opus", rate(), now=0)
    assert pool.cooling_until(0, "c-opus-latest", 0) == 10
    assert pool.cooling_until(0, "other", 0) is None
    assert pool.acquire("c-opus-latest", 1) == 1
    pool.release(1, "c-opus-latest")
    pool.record_failure(0, "c-opus-latest", rate(), now=10)  # the group's second strike
    assert pool.cooling_until(0, "c-opus", 10) == 40
    # one probe for the whole group
    assert pool.acquire("c-opus", 40, exclude=frozenset({1})) == 0
    assert pool.acquire("c-opus-latest", 40, exclude=frozenset({1})) == Cooling(45)
    pool.release(0, "c-opus")
    pool.record_success(0, "c-opus", now=41)
    assert pool.cooling_until(0, "c-opus-latest", 41) is None
    pool.record_failure(0, "c-opus-latest", rate(), now=50)
    assert pool.cooling_until(0, "c-opus", 50) == 60  # the ladder starts again


# ---- half-open -------------------------------------------------------------------------------


def test_an_ended_cooldown_readmits_one_probe_and_its_success_reopens() -> None:
    pool = KeyPool(KEYS[:1])
    pool.record_failure(0, "m", rate(), now=0)
    assert pool.acquire("m", 9.5) == Cooling(10)
    assert pool.acquire("m", 10) == 0  # the probe
    assert pool.acquire("m", 10) == Cooling(15)  # held for everyone else: now + probe_hold
    assert pool.cooling_until(0, "m", 12) == 17
    assert pool.next_free_at("m", 12) == 17
    assert pool.acquire("other", 12) == 0  # another model is not held
    pool.release(0, "other")
    assert pool.acquire("m", 12.5) == Cooling(17.5)
    pool.release(0, "m")
    pool.record_success(0, "m", now=13)
    assert [pool.acquire("m", 13) for _ in range(2)] == [0, 0]  # open to all


def test_a_failed_probe_recools_one_rung_up() -> None:
    pool = KeyPool(KEYS[:1])
    pool.record_failure(0, "m", rate(), now=0)
    assert pool.acquire("m", 10) == 0
    pool.release(0, "m")
    pool.record_failure(0, "m", rate(), now=11)  # strike 2: 30 s
    assert pool.acquire("m", 40) == Cooling(41)
    assert pool.acquire("m", 41) == 0  # the next probe
    pool.release(0, "m")
    pool.record_failure(0, "m", rate(2), now=42)  # Retry-After replaces the rung
    assert pool.cooling_until(0, "m", 42) == 44


def test_a_probe_without_an_outcome_reopens_for_one_more() -> None:
    pool = KeyPool(KEYS[:1])
    pool.record_failure(0, "m", rate(), now=0)
    assert pool.acquire("m", 10) == 0
    pool.release(0, "m")  # abandoned: nothing is known
    assert pool.acquire("m", 10) == 0  # one more probe
    assert pool.acquire("m", 10) == Cooling(15)
    pool.release(0, "m")
    pool.record_failure(0, "m", SERVER, now=11)  # says nothing of the key: the ladder stays
    assert pool.acquire("m", 11) == 0
    pool.release(0, "m")
    pool.record_failure(0, "m", rate(), now=12)
    assert pool.cooling_until(0, "m", 12) == 42  # strike 2, not 3


def test_a_probe_released_without_its_model_reopens_when_the_key_is_idle_or_lost() -> None:
    pool = KeyPool(KEYS[:1], policy=CooldownPolicy(probe_hold=5, probe_timeout=60))
    pool.record_failure(0, "m", rate(), now=0)
    assert pool.acquire("m", 10) == 0
    pool.release(0)  # no lease is left on the key: the probe is back
    assert pool.acquire("m", 11) == 0
    assert pool.acquire("other", 11) == 0
    pool.release(0)  # which lease? unknown: the probe stays out
    assert pool.acquire("m", 12) == Cooling(17)
    assert pool.cooling_until(0, "m", 69) == 71  # never past the probe's timeout (11 + 60)
    assert pool.acquire("m", 71) == 0  # taken as lost: another probe


def test_a_success_from_before_the_failure_leaves_the_cooldown_alone() -> None:
    pool = KeyPool(KEYS[:1])
    first, second = pool.acquire("m", 0), pool.acquire("m", 0)
    assert (first, second) == (0, 0)
    pool.release(0, "m")
    pool.record_failure(0, "m", rate(), now=1)
    pool.release(0, "m")
    pool.record_success(0, "m", now=2)  # sent before the 429
    assert pool.cooling_until(0, "m", 2) == 11
    pool.record_failure(0, "m", rate(), now=11)
    assert pool.cooling_until(0, "m", 11) == 41  # the strikes stood too
    pool.record_success(0, "m", now=41)
    pool.record_failure(0, "m", rate(), now=50)
    assert pool.cooling_until(0, "m", 50) == 60


# ---- whole-key cooldowns ---------------------------------------------------------------------


def test_rate_limits_on_three_models_within_ten_minutes_lock_the_key_out() -> None:
    pool = KeyPool(KEYS[:2])
    pool.record_failure(0, "a", rate(), now=0)
    pool.record_failure(0, "b", rate(), now=100)
    assert pool.cooling_until(0, "z", 100) is None
    pool.record_failure(0, "c", rate(), now=200)
    assert pool.cooling_until(0, "z", 200) == 800
    assert pool.cooling_until(1, "z", 200) is None
    assert pool.acquire("z", 200) == 1


def test_the_lockout_counts_distinct_scopes_within_the_window_since_a_success() -> None:
    pool = KeyPool(KEYS[:1], quota_groups=CLAUDE)
    pool.record_failure(0, "a", rate(), now=0)
    pool.record_failure(0, "b", rate(), now=300)
    pool.record_failure(0, "c", rate(), now=600)  # a was 600 s ago: out of the window
    assert pool.cooling_until(0, "z", 600) is None
    pool.record_failure(0, "d", rate(), now=650)
    assert pool.cooling_until(0, "z", 650) == 1250

    pool = KeyPool(KEYS[:1], quota_groups=CLAUDE)
    pool.record_failure(0, "c-opus", rate(), now=0)
    pool.record_failure(0, "c-opus-latest", rate(), now=1)  # one group: one scope
    pool.record_failure(0, "a", rate(), now=2)
    assert pool.cooling_until(0, "z", 2) is None
    pool.record_success(0, "z", now=3)  # the key works: the tally starts again
    pool.record_failure(0, "b", rate(), now=4)
    assert pool.cooling_until(0, "z", 4) is None


def test_a_locked_out_key_is_probed_whole_and_a_failed_probe_climbs_the_lockout_ladder() -> None:
    pool = KeyPool(KEYS[:1])
    for now, model in ((0, "a"), (1, "b"), (2, "c")):
        pool.record_failure(0, model, rate(), now=now)
    assert pool.cooling_until(0, "z", 2) == 602
    assert pool.acquire("z", 602) == 0  # the key's probe
    assert pool.acquire("y", 602) == Cooling(607)  # the whole key is held
    pool.release(0, "z")
    pool.record_failure(0, "z", rate(), now=603)
    assert pool.cooling_until(0, "y", 603) == 603 + 1800
    assert pool.acquire("y", 2403) == 0
    pool.release(0, "y")
    pool.record_success(0, "y", now=2404)
    assert pool.cooling_until(0, "x", 2404) is None
    for now, model in ((3000, "a"), (3001, "b"), (3002, "c")):
        pool.record_failure(0, model, rate(), now=now)
    assert pool.cooling_until(0, "z", 3002) == 3602  # the ladder started again


def test_after_an_auth_lockout_a_rate_limited_probe_reopens_the_other_models() -> None:
    pool = KeyPool(KEYS[:1])
    pool.record_failure(0, "m", AUTH, now=0)
    assert pool.acquire("n", 300) == 0
    pool.release(0, "n")
    pool.record_failure(0, "n", rate(), now=301)  # it authenticates again
    assert pool.cooling_until(0, "n", 301) == 311
    assert pool.acquire("m", 301) == 0

    pool = KeyPool(KEYS[:1])
    pool.record_failure(0, "m", AUTH, now=0)
    assert pool.acquire("n", 300) == 0
    pool.release(0, "n")
    pool.record_failure(0, "n", AUTH, now=301)
    assert pool.cooling_until(0, "m", 301) == 1201


def test_configured_ladders_and_lockout() -> None:
    policy = CooldownPolicy(
        rate_limit=(5,), auth=(50, 70), lockout_models=2, lockout_within=30, lockout=(100,)
    )
    pool = KeyPool(KEYS[:1], policy=policy)
    pool.record_failure(0, "a", rate(), now=0)
    pool.record_failure(0, "a", rate(), now=5)
    assert pool.cooling_until(0, "a", 5) == 10  # the last rung repeats
    pool.record_failure(0, "b", rate(), now=20)
    assert pool.cooling_until(0, "z", 20) == 120
    pool.record_failure(0, "z", AUTH, now=120)  # auth shares the whole-key strikes
    assert pool.cooling_until(0, "z", 120) == 190

    pool = KeyPool(KEYS[:1], policy=CooldownPolicy(lockout_models=None))
    for now, model in enumerate("abcdefgh"):
        pool.record_failure(0, model, rate(), now=now)
    assert pool.cooling_until(0, "z", 8) is None


def test_version_counts_what_a_snapshot_would_show() -> None:
    pool = KeyPool(KEYS[:1])
    assert pool.acquire("m", 0) == 0
    pool.release(0, "m")
    pool.record_success(0, "m", now=0)
    pool.record_failure(0, "m", SERVER, now=0)
    assert pool.version == 0
    pool.record_failure(0, "m", rate(), now=0)
    assert pool.version == 1
    pool.record_success(0, "m", now=10)
    assert pool.version == 3  # the cooldown and the lockout tally, both gone
