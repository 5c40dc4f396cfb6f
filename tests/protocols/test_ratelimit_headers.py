import pytest

from protocols.ratelimit_headers import parse_duration, parse_reset, retry_after_seconds

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("2m59.56s", 179.56),
        ("250ms", 0.25),
        ("1h2m3s", 3723.0),
        ("10us", 1e-5),
        ("", None),
        ("5", None),
        ("1x", None),
        ("s", None),
        ("1s2", None),
        ("9" * 400 + "s", None),  # past a float: not a duration, never an infinite wait
    ],
)
def test_go_durations(text: str, seconds: float | None) -> None:
    result = parse_duration(text)
    assert result == pytest.approx(seconds) if seconds is not None else result is None


def test_retry_after_forms() -> None:
    assert retry_after_seconds({"retry-after": "7"}, now=NOW) == 7.0
    assert retry_after_seconds({"retry-after": "1.5"}, now=NOW) == 1.5
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}, now=NOW) == 0.25
    date = "Tue, 14 Nov 2023 22:13:40 GMT"  # NOW + 20 s
    assert retry_after_seconds({"retry-after": date}, now=NOW) == 20.0
    assert retry_after_seconds({"retry-after": "-3"}, now=NOW) == 0.0
    assert retry_after_seconds({"retry-after": "soon"}, now=NOW) is None
    assert retry_after_seconds({}, now=NOW) is None


def test_reset_headers_of_exhausted_windows_only() -> None:
    headers = {
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "2m59.56s",
        "x-ratelimit-remaining-tokens": "5000",
        "x-ratelimit-reset-tokens": "7m0s",
    }
    assert retry_after_seconds(headers, now=NOW) == pytest.approx(179.56)
    headers["x-ratelimit-remaining-tokens"] = "0"
    assert retry_after_seconds(headers, now=NOW) == pytest.approx(420.0)


def test_cerebras_and_anthropic_resets() -> None:
    cerebras = {
        "x-ratelimit-remaining-requests-day": "0",
        "x-ratelimit-reset-requests-day": "33011.4",
    }
    assert retry_after_seconds(cerebras, now=NOW) == pytest.approx(33011.4)
    anthropic = {
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": "2023-11-14T22:13:50Z",
    }
    assert retry_after_seconds(anthropic, now=NOW) == pytest.approx(30.0)
    assert parse_reset("2023-11-14T22:13:50", now=NOW) is None  # no zone: not trusted
