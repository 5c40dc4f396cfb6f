"""`window_states`: the windows an upstream reports on any reply, from real header sets."""

import pytest

from protocols.ratelimit_headers import WindowState, window_states

NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def test_openai_reply() -> None:
    headers = {
        "x-ratelimit-limit-requests": "5000",
        "x-ratelimit-limit-tokens": "160000",
        "x-ratelimit-remaining-requests": "4999",
        "x-ratelimit-remaining-tokens": "159976",
        "x-ratelimit-reset-requests": "12ms",
        "x-ratelimit-reset-tokens": "9ms",
        "x-ratelimit-remaining-tokens_usage_based": "159976",  # not a window we read
    }
    assert window_states(headers, now=NOW) == (
        WindowState("requests", "requests", None, 5000, 4999, pytest.approx(0.012)),
        WindowState("tokens", "tokens", None, 160000, 159976, pytest.approx(0.009)),
    )


def test_groq_reply() -> None:
    # Groq: the requests window is per day, the tokens window per minute; the names do not say.
    headers = {
        "x-ratelimit-limit-requests": "14400",
        "x-ratelimit-limit-tokens": "18000",
        "x-ratelimit-remaining-requests": "14370",
        "x-ratelimit-remaining-tokens": "17997",
        "x-ratelimit-reset-requests": "2m59.56s",
        "x-ratelimit-reset-tokens": "7.66s",
    }
    assert window_states(headers, now=NOW) == (
        WindowState("requests", "requests", None, 14400, 14370, pytest.approx(179.56)),
        WindowState("tokens", "tokens", None, 18000, 17997, pytest.approx(7.66)),
    )


def test_cerebras_reply() -> None:
    headers = {
        "x-ratelimit-limit-requests-day": "1000000000",
        "x-ratelimit-limit-tokens-minute": "1000000000",
        "x-ratelimit-remaining-requests-day": "999997455",
        "x-ratelimit-remaining-tokens-minute": "999998298",
        "x-ratelimit-reset-requests-day": "33011.382867097855",
        "x-ratelimit-reset-tokens-minute": "11.382867097854614",
    }
    assert window_states(headers, now=NOW) == (
        WindowState(
            "requests-day", "requests", "day", 1000000000, 999997455, pytest.approx(33011.382867)
        ),
        WindowState(
            "tokens-minute", "tokens", "minute", 1000000000, 999998298, pytest.approx(11.382867)
        ),
    )


def test_anthropic_reply() -> None:
    headers = {
        "anthropic-ratelimit-input-tokens-limit": "80000",
        "anthropic-ratelimit-input-tokens-remaining": "80000",
        "anthropic-ratelimit-input-tokens-reset": "2023-11-14T22:13:21Z",
        "anthropic-ratelimit-output-tokens-limit": "16000",
        "anthropic-ratelimit-output-tokens-remaining": "15000",
        "anthropic-ratelimit-output-tokens-reset": "2023-11-14T22:13:24Z",
        "anthropic-ratelimit-requests-limit": "1000",
        "anthropic-ratelimit-requests-remaining": "999",
        "anthropic-ratelimit-requests-reset": "2023-11-14T22:13:20.5Z",
        "anthropic-ratelimit-tokens-limit": "96000",
        "anthropic-ratelimit-tokens-remaining": "95000",
        "anthropic-ratelimit-tokens-reset": "2023-11-14T22:13:50Z",
    }
    assert window_states(headers, now=NOW) == (
        WindowState("requests", "requests", "minute", 1000, 999, 0.5),
        WindowState("tokens", "tokens", "minute", 96000, 95000, 30.0),
        WindowState("input-tokens", "tokens", "minute", 80000, 80000, 1.0),
        WindowState("output-tokens", "tokens", "minute", 16000, 15000, 4.0),
    )


def test_every_period_suffix() -> None:
    headers = {
        "x-ratelimit-remaining-requests-minute": "1",
        "x-ratelimit-remaining-requests-hour": "2",
        "x-ratelimit-remaining-tokens-day": "3",
    }
    states = window_states(headers, now=NOW)
    assert [(s.window, s.kind, s.period, s.remaining) for s in states] == [
        ("requests-minute", "requests", "minute", 1),
        ("requests-hour", "requests", "hour", 2),
        ("tokens-day", "tokens", "day", 3),
    ]


def test_partial_and_odd_values() -> None:
    headers = {
        "x-ratelimit-limit-requests": "60",  # a limit alone still names the window
        "x-ratelimit-remaining-tokens": "-5",  # never below zero
        "x-ratelimit-reset-tokens": "soon",  # unreadable reset: None
        "x-ratelimit-remaining-tokens-minute": " 12.9 ",  # rounded down
        "x-ratelimit-reset-tokens-minute": "1m30s",
        "x-ratelimit-remaining-requests-day": "many",  # unreadable count: no window
        "x-ratelimit-reset-requests-day": "10",
    }
    assert window_states(headers, now=NOW) == (
        WindowState("requests", "requests", None, 60, None, None),
        WindowState("tokens", "tokens", None, None, 0, None),
        WindowState("tokens-minute", "tokens", "minute", None, 12, 90.0),
    )


def test_past_reset_reads_as_now() -> None:
    headers = {
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": "2023-11-14T22:13:00Z",
    }
    assert window_states(headers, now=NOW) == (
        WindowState("requests", "requests", "minute", None, 0, 0.0),
    )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"content-type": "application/json", "retry-after": "3"},
        {"x-ratelimit-reset-requests": "1s"},  # a reset alone says nothing about room
        {"x-ratelimit-remaining-requests": "nan", "x-ratelimit-limit-requests": "inf"},
    ],
)
def test_no_windows(headers: dict[str, str]) -> None:
    assert window_states(headers, now=NOW) == ()
