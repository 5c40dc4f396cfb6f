"""The health book: states from outcomes, the latency average and chain orders, exactly."""

from __future__ import annotations

import pytest

from actors.health_book import Health, HealthBook, HealthPolicy
from config.model import Target
from protocols.failures import FailureClass

SERVER = FailureClass.SERVER
A, B, C, D = (Target(name, "m") for name in "abcd")


def labels(targets: tuple[Target, ...]) -> list[str]:
    return [target.provider for target in targets]


def test_nothing_heard_is_unknown() -> None:
    book = HealthBook()
    assert book.state("a", 0.0) is Health.UNKNOWN
    assert book.latency("a") is None
    assert book.summary(0.0) == {}


def test_call_failures_degrade_then_three_in_a_row_mark_down() -> None:
    book = HealthBook()
    assert book.observe_call("a", None, 0.5, 1.0) is Health.UP
    assert book.observe_call("a", SERVER, None, 2.0) is Health.DEGRADED
    assert book.observe_call("a", FailureClass.TIMEOUT, None, 3.0) is Health.DEGRADED
    assert book.observe_call("a", FailureClass.CONNECT, None, 4.0) is Health.DOWN
    # one success ends the run but the failures are recent: degraded, not up
    assert book.observe_call("a", None, 0.5, 5.0) is Health.DEGRADED


def test_up_again_once_at_most_one_failure_is_remembered() -> None:
    book = HealthBook()
    for at in (1.0, 2.0, 3.0):
        book.observe_call("a", SERVER, None, at)
    states = [book.observe_call("a", None, 0.1, 4.0 + n) for n in range(9)]
    # the window holds 10: after 8 successes it still holds 2 failures, after 9 only 1
    assert states == [Health.DEGRADED] * 8 + [Health.UP]


def test_a_failed_probe_marks_down_at_once_and_a_good_one_recovers() -> None:
    book = HealthBook()
    assert book.observe_probe("a", SERVER, 5.0, 10.0) is Health.DOWN
    assert book.observe_probe("a", None, 0.2, 20.0) is Health.UP
    assert book.observe_probe("a", FailureClass.MALFORMED, 0.1, 30.0) is Health.DOWN
    assert book.observe_probe("a", None, 0.2, 40.0) is Health.DEGRADED  # 2 failures remembered


def test_key_and_request_failures_say_nothing_of_the_provider() -> None:
    book = HealthBook()
    for failure in (
        FailureClass.RATE_LIMIT,
        FailureClass.AUTH,
        FailureClass.CALLER,
        FailureClass.NOT_FOUND,
        FailureClass.CONTEXT_LENGTH,
    ):
        assert book.observe_call("a", failure, None, 1.0) is Health.UNKNOWN
        assert book.observe_probe("a", failure, 0.1, 1.0) is Health.UNKNOWN
    assert not book.heard_from_since("a", 0.0)


def test_outcomes_are_forgotten_after_five_minutes() -> None:
    book = HealthBook()
    for at in (0.0, 1.0, 2.0):
        book.observe_call("a", SERVER, None, at)
    assert book.state("a", 299.9) is Health.DOWN
    assert book.state("a", 300.0) is Health.DEGRADED  # t=0 forgotten: two in a row are left
    assert book.state("a", 301.5) is Health.DEGRADED  # only the one from t=2 is left
    assert book.state("a", 302.0) is Health.UNKNOWN


def test_policy_thresholds_are_configurable() -> None:
    book = HealthBook(policy=HealthPolicy(down_after=1, forget_after=10.0))
    assert book.observe_call("a", SERVER, None, 0.0) is Health.DOWN
    assert book.state("a", 10.0) is Health.UNKNOWN


def test_latency_is_a_moving_average_of_successes() -> None:
    book = HealthBook()
    book.observe_call("a", None, 1.0, 0.0)
    assert book.latency("a") == 1.0
    book.observe_probe("a", None, 2.0, 1.0)
    assert book.latency("a") == pytest.approx(1.3)
    book.observe_call("a", None, 0.5, 2.0)
    assert book.latency("a") == pytest.approx(1.06)
    book.observe_call("a", SERVER, 30.0, 3.0)  # a failure's time is not a latency
    assert book.latency("a") == pytest.approx(1.06)
    assert book.summary(3.0) == {"a": {"state": "degraded", "latency": pytest.approx(1.06)}}


def test_heard_from_since_counts_real_calls_only() -> None:
    book = HealthBook()
    book.observe_probe("a", None, 0.1, 5.0)
    assert not book.heard_from_since("a", 0.0)
    book.observe_call("a", SERVER, None, 7.0)
    assert book.heard_from_since("a", 7.0)
    assert not book.heard_from_since("a", 7.5)


def test_state_changes_are_reported() -> None:
    changes: list[tuple[str, Health, Health]] = []
    book = HealthBook(on_change=lambda *change: changes.append(change))
    book.observe_probe("a", None, 0.1, 0.0)
    book.observe_probe("a", None, 0.1, 1.0)
    book.observe_probe("a", SERVER, 0.1, 2.0)
    assert changes == [("a", Health.UNKNOWN, Health.UP), ("a", Health.UP, Health.DOWN)]


def test_listed_order_keeps_the_chain_with_down_providers_last() -> None:
    book = HealthBook()
    assert book.order((A, B, C, D), "listed", 0.0) == (A, B, C, D)
    book.observe_probe("a", SERVER, 0.1, 1.0)
    book.observe_probe("c", SERVER, 0.1, 1.0)
    book.observe_call("b", SERVER, None, 1.0)  # degraded: stays where it is
    assert labels(book.order((A, B, C, D), "listed", 2.0)) == ["b", "d", "a", "c"]
    assert labels(book.order((C, D, A, B), "listed", 2.0)) == ["d", "b", "c", "a"]


def test_priority_order_is_stable_and_down_providers_go_last() -> None:
    book = HealthBook({"a": 5, "b": 1, "c": 5, "d": 1})
    assert labels(book.order((A, B, C, D), "priority", 0.0)) == ["b", "d", "a", "c"]
    book.observe_probe("b", SERVER, 0.1, 1.0)
    assert labels(book.order((A, B, C, D), "priority", 2.0)) == ["d", "a", "c", "b"]
    unknown = Target("zed", "m")  # not configured: the default priority, 100
    assert labels(book.order((unknown, A), "priority", 2.0)) == ["a", "zed"]


def test_latency_order_puts_unmeasured_providers_after_measured_ones() -> None:
    book = HealthBook()
    book.observe_call("b", None, 0.9, 0.0)
    book.observe_call("c", None, 0.2, 0.0)
    book.observe_call("d", None, 0.5, 0.0)
    assert labels(book.order((A, B, C, D), "latency", 1.0)) == ["c", "d", "b", "a"]
    for at in (1.0, 2.0, 3.0):
        book.observe_call("c", SERVER, None, at)
    assert labels(book.order((A, B, C, D), "latency", 4.0)) == ["d", "b", "a", "c"]


def test_the_same_target_twice_keeps_both() -> None:
    book = HealthBook({"a": 2, "b": 1})
    assert book.order((A, B, A), "priority", 0.0) == (B, A, A)


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown chain order 'fastest'"):
        HealthBook().order((A,), "fastest", 0.0)
