"""The rate-limit book and its rolling windows, driven with explicit times and exact answers."""

from __future__ import annotations

import heapq
import json

import pytest

from actors.ratelimit_book import (
    Decision,
    Go,
    RateLimitBook,
    Reservation,
    Skip,
    Used,
    WaitUntil,
    estimate_tokens,
)
from actors.rolling_window import RollingWindow
from config.model import Credential, Limits, ProviderConfig, RateLimits
from protocols.ratelimit_headers import WindowState


def book(**limits: int) -> RateLimitBook:
    return RateLimitBook(RateLimits(limits=Limits(**limits)))


def requests_state(remaining: int, reset: float, limit: int | None = None) -> WindowState:
    return WindowState("requests", "requests", None, limit, remaining, reset)


def tokens_state(remaining: int, reset: float, limit: int | None = None) -> WindowState:
    return WindowState("tokens", "tokens", None, limit, remaining, reset)


# --- rolling windows ---------------------------------------------------------------------


def test_window_gathers_events_into_buckets_and_expires_them_with_their_last() -> None:
    window = RollingWindow.minute()
    for moment in (0.0, 0.25, 0.5, 1.0, 2.5):
        window.add(moment, 1, 10)
    assert [(b.start, b.last, b.requests) for b in window.buckets] == [
        (0.0, 0.5, 3),
        (1.0, 1.0, 1),
        (2.5, 2.5, 1),
    ]
    assert window.fits_at(3.0, 5, 1, tokens=False) == 60.5  # the first bucket's last + 60
    assert window.fits_at(3.0, 2, 1, tokens=False) == 61.0  # four must go: two buckets
    assert window.fits_at(3.0, 100, 40, tokens=True) == 3.0  # 50 + 40 fit now
    assert window.fits_at(3.0, 60, 40, tokens=True) == 60.5
    assert window.fits_at(3.0, 30, 31, tokens=True) is None  # more than the limit alone
    window.prune(60.5)
    assert (window.requests, window.tokens, len(window.buckets)) == (2, 20, 2)
    window.prune(62.5)
    assert (window.requests, window.tokens, list(window.buckets)) == (0, 0, [])


def test_window_since_rounds_up_to_whole_buckets() -> None:
    window = RollingWindow.minute()
    for moment in (10.0, 10.5, 11.0):
        window.add(moment, 1, 5)
    assert window.since(11.0) == (0, 0)
    assert window.since(10.5) == (1, 5)
    assert window.since(10.0) == (3, 15)  # 10.0 itself shares a bucket with 10.5


def test_window_adjusts_the_bucket_that_holds_the_moment() -> None:
    window = RollingWindow.day()
    window.add(0.0, 1, 100)
    window.add(70.0, 1, 100)
    window.adjust_tokens(30.0, -80)  # inside the first bucket (0 s to 60 s)
    window.adjust_tokens(70.0, -500)  # never below zero
    assert [b.tokens for b in window.buckets] == [20, 0]
    assert window.tokens == 20


# --- estimates ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "output", "tokens"),
    [(0, 0, 1), (4, 0, 1), (5, 0, 2), (4000, 0, 1000), (4000, 512, 1512), (10, -3, 3)],
)
def test_estimate_tokens(size: int, output: int, tokens: int) -> None:
    assert estimate_tokens(size, max_output_tokens=output) == tokens


# --- configured limits -------------------------------------------------------------------


def test_no_limits_and_no_news_always_go() -> None:
    rates = RateLimitBook()
    for moment in range(100):
        assert rates.decide("k", "m", 10**6, float(moment)) == Go()
        rates.record("k", "m", 10**6, float(moment))
    assert rates.used("k", "m", 99.0) == Used(60, 60 * 10**6, 100, 100 * 10**6)


def test_rpm_waits_for_the_oldest_request_to_leave_the_minute() -> None:
    rates = book(rpm=3)
    for moment in (0.0, 10.0, 20.0):
        assert rates.decide("k", "m", 1, moment) == Go()
        rates.record("k", "m", 1, moment)
    assert rates.decide("k", "m", 1, 30.0) == WaitUntil(60.0, "rpm")
    assert rates.decide("k", "m", 1, 59.9) == WaitUntil(60.0, "rpm")
    assert rates.decide("k", "m", 1, 60.0) == Go()


def test_a_wait_past_the_deadline_is_a_skip() -> None:
    rates = book(rpm=1)
    rates.record("k", "m", 1, 0.0)
    assert rates.decide("k", "m", 1, 5.0, deadline=61.0) == WaitUntil(60.0, "rpm")
    assert rates.decide("k", "m", 1, 5.0, deadline=60.0) == Skip(60.0, "rpm")


def test_tpm_counts_estimates_and_refuses_what_never_fits() -> None:
    rates = book(tpm=1000)
    rates.record("k", "m", 600, 0.0)
    rates.record("k", "m", 300, 2.0)
    assert rates.decide("k", "m", 100, 3.0) == Go()
    assert rates.decide("k", "m", 200, 3.0) == WaitUntil(60.0, "tpm")
    assert rates.decide("k", "m", 800, 3.0) == WaitUntil(62.0, "tpm")
    assert rates.decide("k", "m", 1001, 3.0) == Skip(None, "tpm")


def test_day_windows_use_minute_buckets() -> None:
    rates = book(rpd=3, tpd=10_000)
    for moment in (0.0, 30.0, 90.0):
        rates.record("k", "m", 1000, moment)
    # 0 s and 30 s share the first minute's bucket; it leaves a day after its last, 30 s
    assert rates.decide("k", "m", 10, 100.0) == WaitUntil(86_430.0, "rpd")
    assert rates.decide("k", "m", 10, 100.0, deadline=3600.0) == Skip(86_430.0, "rpd")
    assert rates.decide("k", "m", 10, 86_430.0) == Go()
    assert rates.used("k", "m", 86_430.0) == Used(0, 0, 1, 1000)


def test_the_strictest_window_decides() -> None:
    rates = book(rpm=100, tpm=1000, rpd=2)
    rates.record("k", "m", 900, 0.0)
    rates.record("k", "m", 50, 120.0)
    assert rates.decide("k", "m", 10, 130.0) == WaitUntil(86_400.0, "rpd")


def test_keys_are_counted_apart() -> None:
    rates = book(rpm=1)
    rates.record("a", "m", 1, 0.0)
    assert rates.decide("a", "m", 1, 1.0) == WaitUntil(60.0, "rpm")
    assert rates.decide("b", "m", 1, 1.0) == Go()


def test_a_quota_group_shares_one_tally_under_each_models_own_limits() -> None:
    rates = RateLimitBook(
        RateLimits(
            limits=Limits(rpm=2),
            model_limits={"k2-0905": Limits(rpm=3)},
            quota_groups={"kimi": ("k2", "k2-0905")},
        )
    )
    rates.record("k", "k2", 1, 0.0)
    rates.record("k", "k2-0905", 1, 1.0)
    assert rates.used("k", "k2", 2.0) == rates.used("k", "k2-0905", 2.0) == Used(2, 2, 2, 2)
    assert rates.decide("k", "k2", 1, 2.0) == WaitUntil(60.0, "rpm")
    assert rates.decide("k", "k2-0905", 1, 2.0) == Go()
    assert rates.decide("k", "llama", 1, 2.0) == Go()


def test_built_from_a_provider() -> None:
    provider = ProviderConfig(
        name="p",
        base_url="http://h/v1",
        keys=(Credential("k", "s"),),
        rate_limits=RateLimits(limits=Limits(rpm=1)),
    )
    rates = RateLimitBook.for_provider(provider)
    rates.record("k", "m", 1, 0.0)
    assert rates.decide("k", "m", 1, 0.0) == WaitUntil(60.0, "rpm")


# --- corrections -------------------------------------------------------------------------


def test_settle_corrects_the_reservation_both_ways() -> None:
    rates = book(tpm=1000)
    reservation = rates.record("k", "m", 800, 0.0)
    assert reservation == Reservation("k", "m", 800, 0.0)
    assert rates.decide("k", "m", 300, 1.0) == WaitUntil(60.0, "tpm")
    settled = rates.settle(reservation, 200, 2.0)
    assert settled == Reservation("k", "m", 200, 0.0)
    assert rates.decide("k", "m", 300, 2.0) == Go()
    rates.settle(settled, 950, 3.0)  # a stream's usage, corrected again as it grows
    assert rates.used("k", "m", 3.0) == Used(1, 950, 1, 950)
    assert rates.decide("k", "m", 51, 3.0) == WaitUntil(60.0, "tpm")


def test_settle_after_the_minute_only_corrects_the_day() -> None:
    rates = book(tpd=10_000)
    reservation = rates.record("k", "m", 800, 0.0)
    rates.settle(reservation, 100, 70.0)
    assert rates.used("k", "m", 70.0) == Used(0, 0, 1, 100)
    RateLimitBook().settle(reservation, 5, 1.0)  # unknown to this book: nothing to do


# --- what the upstream says --------------------------------------------------------------


def test_upstream_remaining_holds_back_until_its_reset() -> None:
    rates = RateLimitBook()
    rates.observe("k", "m", (requests_state(remaining=0, reset=5.0),), 10.0)
    assert rates.decide("k", "m", 1, 10.0) == WaitUntil(15.0, "upstream requests")
    assert rates.decide("k", "m", 1, 15.0) == Go()
    assert rates.snapshot(15.0)["tallies"] == []  # the spent cap is gone


def test_requests_sent_after_the_replys_own_are_taken_off_its_remaining() -> None:
    rates = RateLimitBook()
    for moment in (10.0, 11.0, 12.0):  # A, B, C
        rates.record("k", "m", 1, moment)
    # A's reply: the upstream had seen A, not B or C
    rates.observe("k", "m", (requests_state(remaining=3, reset=30.0),), 13.0, sent_at=10.0)
    assert rates.decide("k", "m", 1, 13.0) == Go()
    rates.record("k", "m", 1, 13.0)
    assert rates.decide("k", "m", 1, 14.0) == WaitUntil(43.0, "upstream requests")


def test_an_older_reply_does_not_overwrite_a_newer_one() -> None:
    rates = RateLimitBook()
    rates.observe("k", "m", (requests_state(0, 30.0),), 20.0, sent_at=12.0)
    rates.observe("k", "m", (requests_state(99, 1.0),), 21.0, sent_at=11.0)
    assert rates.decide("k", "m", 1, 22.0) == WaitUntil(50.0, "upstream requests")
    rates.observe("k", "m", (requests_state(99, 1.0),), 23.0, sent_at=22.0)
    assert rates.decide("k", "m", 1, 23.0) == Go()


def test_the_upstream_never_loosens_a_configured_limit() -> None:
    rates = book(rpm=1)
    rates.record("k", "m", 1, 0.0)
    rates.observe("k", "m", (requests_state(remaining=500, reset=1.0),), 1.0)
    assert rates.decide("k", "m", 1, 1.0) == WaitUntil(60.0, "rpm")


def test_upstream_token_windows() -> None:
    rates = RateLimitBook()
    state = tokens_state(remaining=500, reset=7.5, limit=6000)
    rates.observe("k", "m", (state,), 0.0)
    assert rates.decide("k", "m", 500, 0.0) == Go()
    assert rates.decide("k", "m", 501, 0.0) == WaitUntil(7.5, "upstream tokens")
    assert rates.decide("k", "m", 6001, 0.0) == Skip(None, "upstream tokens")
    rates.record("k", "m", 400, 1.0)
    assert rates.decide("k", "m", 101, 1.0) == WaitUntil(7.5, "upstream tokens")


def test_windows_without_a_remaining_or_a_reset_are_not_caps() -> None:
    rates = RateLimitBook()
    states = (requests_state(0, 5.0), tokens_state(0, 5.0))
    bare = (
        WindowState("requests", "requests", None, 10, None, 5.0),
        WindowState("tokens", "tokens", None, 10, 0, None),
    )
    rates.observe("k", "m", bare, 0.0)
    assert rates.decide("k", "m", 1, 0.0) == Go()
    rates.observe("k", "m", states, 0.0)
    assert isinstance(rates.decide("k", "m", 1, 0.0), WaitUntil)


def test_retry_after_only_ever_extends() -> None:
    rates = RateLimitBook()
    rates.observe("k", "m", (), 5.0, retry_after=20.0)
    assert rates.decide("k", "m", 1, 5.0) == WaitUntil(25.0, "retry-after")
    rates.observe("k", "m", (), 6.0, retry_after=1.0)
    assert rates.decide("k", "m", 1, 6.0, deadline=20.0) == Skip(25.0, "retry-after")
    assert rates.decide("k", "m", 1, 25.0) == Go()
    assert rates.decide("other", "m", 1, 6.0) == Go()


# --- snapshots ---------------------------------------------------------------------------


def busy_book() -> RateLimitBook:
    rates = RateLimitBook(
        RateLimits(limits=Limits(rpm=2, tpd=5000), quota_groups={"g": ("m1", "m2")})
    )
    rates.record("a", "m1", 1000, 90.0)
    rates.record("a", "m2", 1500, 95.0)
    rates.record("b", "x", 10, 40.0)  # gone from the minute by 100, not from the day
    rates.observe("b", "x", (tokens_state(remaining=5, reset=30.0),), 100.0)
    rates.observe("b", "x", (requests_state(remaining=0, reset=0.5),), 99.0)  # spent by 100
    return rates


def test_snapshot_is_plain_data_with_times_as_offsets() -> None:
    data = busy_book().snapshot(100.0)
    assert json.loads(json.dumps(data)) == data
    assert data == {
        "version": 1,
        "tallies": [
            {
                "key": "a",
                "group": "g",
                "minute": [[10.0, 10.0, 1, 1000], [5.0, 5.0, 1, 1500]],
                "day": [[10.0, 5.0, 2, 2500]],
                "caps": {},
            },
            {
                "key": "b",
                "model": "x",
                "minute": [],
                "day": [[60.0, 60.0, 1, 10]],
                "caps": {
                    "tokens": {
                        "kind": "tokens",
                        "remaining": 5,
                        "ends_in": 30.0,
                        "seen_ago": 0.0,
                        "limit": None,
                    }
                },
            },
        ],
    }


@pytest.mark.parametrize(("now", "elapsed"), [(5.0, 0.0), (1000.0, 20.0)])
def test_restore_takes_a_snapshot_back_aged_by_the_downtime(now: float, elapsed: float) -> None:
    original = busy_book()
    data = json.loads(json.dumps(original.snapshot(100.0)))
    restored = RateLimitBook(original.rate_limits)
    restored.restore(data, now, elapsed=elapsed)
    shift = now - elapsed - 100.0  # the restored clock reads `shift` more than the original
    for key, model, tokens in (("a", "m1", 1), ("a", "m2", 1), ("b", "x", 5), ("b", "x", 6)):
        for moment in (100.0 + elapsed, 104.0 + elapsed, 150.0 + elapsed):
            expected = original.decide(key, model, tokens, moment)
            if isinstance(expected, WaitUntil):
                expected = WaitUntil(expected.at + shift, expected.window)
            assert restored.decide(key, model, tokens, moment + shift) == expected
    assert restored.used("a", "m1", now) == original.used("a", "m1", 100.0 + elapsed)


def test_restore_drops_what_ran_out_while_down_and_checks_the_version() -> None:
    data = busy_book().snapshot(100.0)
    rates = RateLimitBook()
    rates.restore(data, 0.0, elapsed=86_400.0)
    assert rates.snapshot(0.0) == {"version": 1, "tallies": []}
    with pytest.raises(ValueError, match="version"):
        rates.restore({"version": 99, "tallies": []}, 0.0)


# --- the acceptance scenario, at the level of the books ----------------------------------

KEYS = ("a", "b")
ARRIVALS = [i / 20 for i in range(200)]  # 200 requests offered in 10 s


def rolling_peak(moments: list[float], span: float = 60.0) -> int:
    """The most of `moments` within `span` seconds ending at any one of them, counted exactly."""
    return max(sum(1 for m in moments if t - span < m <= t) for t in moments)


def test_rpm_60_two_keys_without_waiting() -> None:
    rates = book(rpm=60)
    sent: dict[str, list[float]] = {key: [] for key in KEYS}
    skipped: list[list[Decision]] = []
    for moment in ARRIVALS:
        decisions = [rates.decide(key, "m", 100, moment, deadline=moment + 30) for key in KEYS]
        key = next((key for key, d in zip(KEYS, decisions, strict=True) if d == Go()), None)
        if key is None:
            skipped.append(decisions)
        else:
            rates.record(key, "m", 100, moment)
            sent[key].append(moment)
    assert sent == {"a": ARRIVALS[:60], "b": ARRIVALS[60:120]}
    # a's first second (0 s to 0.95 s) leaves at 60.95 s; b's (3 s to 3.95 s) at 63.95 s
    assert skipped == [[Skip(ARRIVALS[19] + 60, "rpm"), Skip(ARRIVALS[79] + 60, "rpm")]] * 80


def test_rpm_60_two_keys_with_waiting_first_come_first_served() -> None:
    rates = book(rpm=60)
    sent: dict[str, list[float]] = {key: [] for key in KEYS}
    served: list[tuple[int, str, float]] = []
    queue = [(moment, index) for index, moment in enumerate(ARRIVALS)]
    while queue:
        moment, index = heapq.heappop(queue)
        deadline = ARRIVALS[index] + 90
        decisions = [rates.decide(key, "m", 100, moment, deadline=deadline) for key in KEYS]
        key = next((key for key, d in zip(KEYS, decisions, strict=True) if d == Go()), None)
        if key is not None:
            rates.record(key, "m", 100, moment)
            sent[key].append(moment)
            served.append((index, key, moment))
            continue
        waits = [d.at for d in decisions if isinstance(d, WaitUntil)]
        assert waits  # some key has room within 90 s for everyone
        heapq.heappush(queue, (min(waits), index))
    assert [index for index, _, _ in served] == list(range(200))  # in order of arrival
    assert (rolling_peak(sent["a"]), rolling_peak(sent["b"])) == (60, 60)
    late = [(key, moment) for index, key, moment in served if index >= 120]
    assert late == (
        [("a", ARRIVALS[19] + 60)] * 20
        + [("a", ARRIVALS[39] + 60)] * 20
        + [("a", ARRIVALS[59] + 60)] * 20
        + [("b", ARRIVALS[79] + 60)] * 20
    )


def test_a_quota_group_gone_from_the_config_is_not_restored() -> None:
    grouped = RateLimitBook(RateLimits(limits=Limits(rpm=5), quota_groups={"g": ("m1", "m2")}))
    grouped.record("k", "m1", 10, 0.0)
    saved = grouped.snapshot(1.0)
    ungrouped = book(rpm=5)
    ungrouped.restore(saved, 2.0, elapsed=1.0)
    assert ungrouped.headroom("k", 2.0) == {}  # and no KeyError for /stats
    assert ungrouped.used("k", "m1", 2.0).requests_minute == 0
    grouped.restore(saved, 2.0, elapsed=1.0)
    assert grouped.headroom("k", 2.0) == {"rpm": {"limit": 5, "used": 1, "remaining": 4}}


def test_the_fleets_day_window_ends_at_the_daily_reset_where_one_is_set() -> None:
    from datetime import time as time_of_day

    from actors.ratelimit_book import next_reset

    limits = RateLimits(limits=Limits(rpm=10, rpd=100))
    wall = 1_765_000_000.0
    rolling = RateLimitBook(limits).fleet_windows("k", "m", wall)
    assert rolling is not None
    assert [(w.seconds, w.max_requests, w.ends) for w in rolling[1]] == [
        (60.0, 10, None),
        (86_400.0, 100, None),
    ]
    fixed = RateLimitBook(limits, time_of_day(7, 0)).fleet_windows("k", "m", wall)
    assert fixed is not None and fixed[0] == rolling[0] == "k/model:m"
    minute, day = fixed[1]
    assert minute.ends is None
    assert day.ends == next_reset(wall, time_of_day(7, 0)) and wall < day.ends <= wall + 86_400
    assert RateLimitBook().fleet_windows("k", "m", wall) is None  # nothing configured
