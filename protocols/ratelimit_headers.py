"""How long an upstream asks us to wait, from whichever header it uses to say so.

In order of trust:
1. `retry-after-ms` (OpenAI's SDKs honour it): milliseconds.
2. `retry-after`: seconds, or an HTTP date.
3. Rate-limit reset headers of an exhausted window (remaining == 0):
   - OpenAI / Groq / Cerebras: `x-ratelimit-reset-requests`, `x-ratelimit-reset-tokens`, as Go
     durations (`1s`, `6m0s`, `2m59.56s`, `250ms`) or plain seconds (Cerebras' `...-day` ones).
   - Anthropic: `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-reset` as an
     RFC 3339 time.
   When several windows are exhausted the longest wait wins: going earlier is a certain 429.
Times are seconds from `now` (epoch seconds, passed in: this module reads no clock).

`window_states` reads the same families on any reply, 2xx included, as one `WindowState` per
window the upstream names, for a rate-limit tracker to fold in:
- `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`: OpenAI means per minute, Groq means
  requests per day and tokens per minute; the name does not say, so `period` is None.
- the same with `-minute`, `-hour` or `-day` appended (Cerebras): the period is in the name.
- `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}`:
  per minute.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime

import attrs

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_RESET_PAIRS = (
    ("x-ratelimit-remaining-requests", "x-ratelimit-reset-requests"),
    ("x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"),
    ("x-ratelimit-remaining-requests-day", "x-ratelimit-reset-requests-day"),
    ("x-ratelimit-remaining-tokens-minute", "x-ratelimit-reset-tokens-minute"),
    ("anthropic-ratelimit-requests-remaining", "anthropic-ratelimit-requests-reset"),
    ("anthropic-ratelimit-tokens-remaining", "anthropic-ratelimit-tokens-reset"),
    ("anthropic-ratelimit-input-tokens-remaining", "anthropic-ratelimit-input-tokens-reset"),
    ("anthropic-ratelimit-output-tokens-remaining", "anthropic-ratelimit-output-tokens-reset"),
)
_X_PERIODS = (("", None), ("-minute", "minute"), ("-hour", "hour"), ("-day", "day"))
_ANTHROPIC_WINDOWS = ("requests", "tokens", "input-tokens", "output-tokens")


@attrs.frozen
class WindowState:
    """One rate-limit window as an upstream reported it on a reply.

    `window` is the header family's own name (`requests`, `tokens-minute`, `input-tokens`),
    unique within one reply; `kind` is what it counts. `reset` is seconds from `now`; None
    when the reply named no (readable) reset. `remaining` never goes below 0.
    """

    window: str
    kind: str  # "requests" | "tokens"
    period: str | None  # "minute" | "hour" | "day", or None: the header does not say
    limit: int | None
    remaining: int | None
    reset: float | None


def window_states(headers: Mapping[str, str], *, now: float) -> tuple[WindowState, ...]:
    """Every window `headers` report on (case-insensitive lookup), in a fixed order."""
    # (window, kind, period, header name with {} where limit/remaining/reset goes)
    families = [
        (f"{kind}{suffix}", kind, period, f"x-ratelimit-{{}}-{kind}{suffix}")
        for kind in ("requests", "tokens")
        for suffix, period in _X_PERIODS
    ]
    for window in _ANTHROPIC_WINDOWS:
        kind = "requests" if window == "requests" else "tokens"
        families.append((window, kind, "minute", f"anthropic-ratelimit-{window}-{{}}"))
    states: list[WindowState] = []
    for window, kind, period, template in families:
        limit = _count(headers.get(template.format("limit")))
        remaining = _count(headers.get(template.format("remaining")))
        if limit is not None or remaining is not None:
            reset = parse_reset(headers.get(template.format("reset")), now=now)
            states.append(WindowState(window, kind, period, limit, remaining, reset))
    return tuple(states)


def _count(value: str | None) -> int | None:
    """A count header as a whole number >= 0 (rounded down: the safe side), or None."""
    number = _number(value.strip()) if value is not None else None
    return None if number is None else max(0, math.floor(number))


def retry_after_seconds(headers: Mapping[str, str], *, now: float) -> float | None:
    """The wait the upstream asked for, in seconds (>= 0), or None if it said nothing usable."""
    value = headers.get("retry-after-ms")
    if value is not None:
        seconds = _number(value)
        if seconds is not None:
            return max(0.0, seconds / 1000.0)
    value = headers.get("retry-after")
    if value is not None:
        seconds = _number(value)
        if seconds is None:
            seconds = _http_date_delay(value, now)
        if seconds is not None:
            return max(0.0, seconds)
    waits = [
        wait
        for remaining_name, reset_name in _RESET_PAIRS
        if _number(headers.get(remaining_name, "")) == 0
        and (wait := parse_reset(headers.get(reset_name), now=now)) is not None
    ]
    return max(waits) if waits else None


def parse_reset(value: str | None, *, now: float) -> float | None:
    """A reset header's value (duration, seconds or RFC 3339 time) as seconds from now."""
    if not value:
        return None
    value = value.strip()
    seconds = _number(value)
    if seconds is not None:
        return max(0.0, seconds)
    duration = parse_duration(value)
    if duration is not None:
        return duration
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - now)


def parse_duration(value: str) -> float | None:
    """A Go duration (`1m30.5s`, `250ms`), as OpenAI and Groq send them; None if it is not one."""
    position = 0
    total = 0.0
    for match in _DURATION_PART.finditer(value):
        if match.start() != position:
            return None
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position == 0 or position != len(value) or total in (float("inf"), float("-inf")):
        return None  # not a duration, or one past a float (hundreds of digits)
    return total


def _number(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number == number and number not in (float("inf"), float("-inf")) else None


def _http_date_delay(value: str, now: float) -> float | None:
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return moment.timestamp() - now
