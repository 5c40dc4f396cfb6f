"""Whether one key of a provider may send one more request to one model: now, later or not.

The bookkeeping a rate-limit tracker actor wraps: plain and synchronous, no I/O, no clock.
Every method takes `now` in monotonic seconds; the actor turns Trio's clock into it.

Two sources of truth are kept per (key, model), where a model in a quota group is counted
under the group so its members share one tally:
- our own rolling windows (`actors.rolling_window`), a minute and a day of requests and
  tokens, fed by `record` when an attempt is sent (admission reserves the estimate) and
  corrected by `settle` when the real usage is known. Configured `limits` are their ceilings.
- the upstream's word, folded in by `observe` from the headers of any reply
  (`protocols.ratelimit_headers.window_states`) and Retry-After: "`remaining` more until
  `reset`". Each window it names becomes a cap, read literally: at most `remaining` more
  until the reset, full again after it. For the token buckets most providers run this is
  cautious (their room comes back gradually), and exact for fixed windows (Cerebras). A cap
  only ever holds a request back: it never loosens a configured limit. Requests we sent
  after the reply's own request are taken off `remaining`, since the upstream had not seen
  them when it answered; a reply to an older request than the cap's is ignored.

`decide` answers with the strictest of all of them: `Go`, `WaitUntil(t)` (the earliest time
every window has room) or `Skip` (not before the caller's deadline, or never: the request is
bigger than a limit on its own). Fairness, queueing and choosing between keys are the
actor's: the book only answers exactly.

`snapshot(now)` gives plain lists and dicts with every time as an offset from `now`, since a
monotonic clock does not survive a restart; `restore(data, now, elapsed=...)` takes them back,
aged by the time the process was down. `version` counts the changes a snapshot would show, so
a persister can tell whether there is anything new to save; `reset_day(now)` starts every day
window afresh (a provider whose daily quotas reset at a fixed time).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, time
from typing import Any

import attrs

from actors.rolling_window import RollingWindow
from actors.state.shared import Window
from config.model import Limits, ProviderConfig, RateLimits
from protocols.ratelimit_headers import WindowState

DAY = 86_400.0


def next_reset(wall: float, at: time) -> float:
    """The first wall-clock moment after `wall` (seconds since the epoch) whose UTC time of
    day is `at`. A UTC day is always `DAY` long (leap seconds are not counted)."""
    day = datetime.fromtimestamp(wall, UTC).date()
    moment = datetime.combine(day, at, tzinfo=UTC).timestamp()
    return moment if moment > wall else moment + DAY


BYTES_PER_TOKEN = 4
SNAPSHOT_VERSION = 1


def estimate_tokens(body_bytes: int, *, max_output_tokens: int = 0) -> int:
    """Tokens to reserve for a request of `body_bytes` bytes before the upstream has counted.

    About 4 bytes of text per token for English and code; counting the JSON envelope too
    overestimates a little, the safe side. Upstreams that charge the completion's budget up
    front (Cerebras, Anthropic's output limit) want `max_output_tokens` added.
    """
    return max(1, math.ceil(body_bytes / BYTES_PER_TOKEN)) + max(0, max_output_tokens)


@attrs.frozen
class Go:
    """Room in every window: send now (and `record` it)."""


@attrs.frozen
class WaitUntil:
    at: float
    window: str  # what holds it back: "rpm", "tpd", "upstream tokens", "retry-after", ...


@attrs.frozen
class Skip:
    until: float | None  # when there would be room; None: never, the request alone is too big
    window: str


Decision = Go | WaitUntil | Skip


@attrs.frozen
class Reservation:
    """What `record` counted for one attempt, for `settle` to correct."""

    key: str
    model: str
    tokens: int
    at: float


@attrs.frozen
class Used:
    requests_minute: int
    tokens_minute: int
    requests_day: int
    tokens_day: int


@attrs.define
class Cap:
    """An upstream window: at most `remaining` more until `until` (`seen`: its request's send)."""

    kind: str
    remaining: int
    until: float
    seen: float
    limit: int | None = None


@attrs.define
class Tally:
    """One key's use of one model or quota group."""

    minute: RollingWindow = attrs.field(factory=RollingWindow.minute)
    day: RollingWindow = attrs.field(factory=RollingWindow.day)
    caps: dict[str, Cap] = attrs.field(factory=dict)


Scope = tuple[str, str, str]  # (key alias, "model" | "group", name)


@attrs.define
class RateLimitBook:
    """The rate-limit state of one provider's keys. Keys are named by alias, never secret."""

    rate_limits: RateLimits = attrs.field(factory=RateLimits)
    daily_reset: time | None = None  # the UTC time of day the day windows start afresh
    version: int = attrs.field(init=False, default=0)
    _tallies: dict[Scope, Tally] = attrs.field(init=False, factory=dict)
    _group_of: dict[str, str] = attrs.field(init=False, factory=dict)

    def __attrs_post_init__(self) -> None:
        for group, models in self.rate_limits.quota_groups.items():
            self._group_of.update(dict.fromkeys(models, group))

    @classmethod
    def for_provider(cls, provider: ProviderConfig) -> RateLimitBook:
        return cls(provider.rate_limits, provider.daily_reset_utc)

    def decide(
        self, key: str, model: str, tokens: int, now: float, *, deadline: float = math.inf
    ) -> Decision:
        """May `key` send `model` a request of about `tokens` tokens at `now`?"""
        limits = self.rate_limits.limits_for(model)
        tally = self._tallies.get(self._scope(key, model))
        if tally is None and not limits.configured:
            return Go()
        tally = tally or Tally()
        waits = _limit_waits(tally, limits, tokens, now)
        for name, cap in list(tally.caps.items()):
            if cap.until <= now:
                del tally.caps[name]
                continue
            need = 1 if cap.kind == "requests" else tokens
            if cap.limit is not None and need > cap.limit:
                waits.append((None, _cap_label(name)))
            elif need > cap.remaining:
                waits.append((cap.until, _cap_label(name)))
        never = next((window for at, window in waits if at is None), None)
        if never is not None:
            return Skip(None, never)
        at, window = max(((at, w) for at, w in waits if at is not None), default=(now, ""))
        if at <= now:
            return Go()
        return WaitUntil(at, window) if at < deadline else Skip(at, window)

    def record(self, key: str, model: str, tokens: int, now: float) -> Reservation:
        """An attempt is being sent: count it and reserve its estimated tokens."""
        self.version += 1
        tally = self._tally(key, model)
        tally.minute.add(now, 1, tokens)
        tally.day.add(now, 1, tokens)
        for cap in tally.caps.values():
            cap.remaining = max(0, cap.remaining - (1 if cap.kind == "requests" else tokens))
        return Reservation(key=key, model=model, tokens=tokens, at=now)

    def settle(self, reservation: Reservation, tokens: int, now: float) -> Reservation:
        """The attempt used `tokens` in all: correct what `record` reserved, and return the
        reservation as it now stands, for a later correction (a stream's usage as it grows).
        The upstream's caps are left alone; its next reply says where it stands."""
        tally = self._tallies.get(self._scope(reservation.key, reservation.model))
        if tally is not None:
            self.version += 1
            for window in (tally.minute, tally.day):
                window.prune(now)
                window.adjust_tokens(reservation.at, tokens - reservation.tokens)
        return attrs.evolve(reservation, tokens=tokens)

    def observe(
        self,
        key: str,
        model: str,
        states: tuple[WindowState, ...],
        now: float,
        *,
        sent_at: float | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Fold in what a reply's headers said. `sent_at`: when its request was sent."""
        self.version += 1
        tally = self._tally(key, model)
        seen = now if sent_at is None else sent_at
        window = tally.minute if now - seen < tally.minute.span else tally.day
        window.prune(now)
        later_requests, later_tokens = window.since(seen)
        for state in states:
            if state.remaining is None or state.reset is None:
                continue  # no reset: no telling when the room comes back
            current = tally.caps.get(state.window)
            if current is not None and current.seen > seen:
                continue  # this reply is older news than the cap we hold
            later = later_requests if state.kind == "requests" else later_tokens
            tally.caps[state.window] = Cap(
                kind=state.kind,
                remaining=max(0, state.remaining - later),
                until=now + state.reset,
                seen=seen,
                limit=state.limit,
            )
        if retry_after is not None:
            current = tally.caps.get("retry-after")
            until = max(now + retry_after, current.until if current else now)
            tally.caps["retry-after"] = Cap("requests", remaining=0, until=until, seen=seen)

    def used(self, key: str, model: str, now: float) -> Used:
        """What our own windows count for `key` and `model`'s scope (for /stats and tests)."""
        tally = self._tallies.get(self._scope(key, model)) or Tally()
        tally.minute.prune(now)
        tally.day.prune(now)
        return Used(
            tally.minute.requests, tally.minute.tokens, tally.day.requests, tally.day.tokens
        )

    def headroom(self, key: str, now: float) -> dict[str, dict[str, Any]]:
        """For /stats: each configured limit of `key` (rpm, tpm, rpd, tpd) and each upstream
        cap in force, with what is used and left; over several models, the tightest."""
        found: dict[str, dict[str, Any]] = {}
        for (alias, scope_kind, name), tally in self._tallies.items():
            if alias != key:
                continue
            if scope_kind == "model":
                model = name
            else:
                members = self.rate_limits.quota_groups.get(name)
                if not members:
                    continue  # a group no longer configured (restored from an older config)
                model = members[0]
            limits = self.rate_limits.limits_for(model)
            tally.minute.prune(now)
            tally.day.prune(now)
            for label, limit, used in (
                ("rpm", limits.rpm, tally.minute.requests),
                ("tpm", limits.tpm, tally.minute.tokens),
                ("rpd", limits.rpd, tally.day.requests),
                ("tpd", limits.tpd, tally.day.tokens),
            ):
                if limit is not None:
                    _tightest(
                        found, label, {"limit": limit, "used": used, "remaining": limit - used}
                    )
            for window, cap in tally.caps.items():
                if cap.until > now:
                    row: dict[str, Any] = {"limit": cap.limit, "remaining": cap.remaining}
                    row["resets_in_s"] = round(cap.until - now, 3)
                    _tightest(found, _cap_label(window), row)
        return found

    def snapshot(self, now: float) -> dict[str, Any]:
        """Plain data (JSON-ready); every time is an offset from `now`."""
        rows = []
        for (key, scope_kind, name), tally in self._tallies.items():
            caps = {
                window: {
                    "kind": cap.kind,
                    "remaining": cap.remaining,
                    "ends_in": cap.until - now,
                    "seen_ago": now - cap.seen,
                    "limit": cap.limit,
                }
                for window, cap in tally.caps.items()
                if cap.until > now
            }
            minute, day = tally.minute.dump(now), tally.day.dump(now)
            if minute or day or caps:
                rows.append(
                    {"key": key, scope_kind: name, "minute": minute, "day": day, "caps": caps}
                )
        return {"version": SNAPSHOT_VERSION, "tallies": rows}

    def restore(self, data: dict[str, Any], now: float, *, elapsed: float = 0.0) -> None:
        """Replace the state with a `snapshot`'s, taken `elapsed` seconds before `now`."""
        if data.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"unknown rate-limit snapshot version {data.get('version')!r}")
        taken = now - elapsed
        self.version += 1
        self._tallies.clear()
        for row in data["tallies"]:
            scope_kind = "group" if "group" in row else "model"
            if scope_kind == "group" and row["group"] not in self.rate_limits.quota_groups:
                continue  # the group is gone from the config: its tally means nothing now
            tally = Tally()
            tally.minute.load(row["minute"], taken)
            tally.day.load(row["day"], taken)
            tally.minute.prune(now)
            tally.day.prune(now)
            for window, cap in row["caps"].items():
                if taken + cap["ends_in"] > now:
                    tally.caps[window] = Cap(
                        kind=cap["kind"],
                        remaining=int(cap["remaining"]),
                        until=taken + cap["ends_in"],
                        seen=taken - cap["seen_ago"],
                        limit=cap["limit"],
                    )
            self._tallies[(row["key"], scope_kind, row[scope_kind])] = tally

    def reset_day(self, now: float) -> None:
        """A daily reset: every key's day windows start afresh (minute windows and the
        upstream's caps are left alone)."""
        self.version += 1
        for tally in self._tallies.values():
            tally.day = RollingWindow.day()

    def fleet_windows(
        self, key: str, model: str, wall: float
    ) -> tuple[str, tuple[Window, ...]] | None:
        """The configured windows of `key` x `model` as a shared state keeps them for the
        whole fleet (`actors.state`) at wall-clock `wall`: the scope's name and its minute and
        day windows (the day fixed, ending at the next `daily_reset_utc`, where one is set, as
        this book's restarts then; else rolling); None if nothing is configured."""
        limits = self.rate_limits.limits_for(model)
        if not limits.configured:
            return None
        day_ends = None if self.daily_reset is None else next_reset(wall, self.daily_reset)
        windows = tuple(
            Window(seconds, requests, tokens, ends)
            for seconds, requests, tokens, ends in (
                (60.0, limits.rpm, limits.tpm, None),
                (DAY, limits.rpd, limits.tpd, day_ends),
            )
            if requests is not None or tokens is not None
        )
        return self.fleet_scope(key, model), windows

    def fleet_scope(self, key: str, model: str) -> str:
        """The name a shared state knows `key` x `model`'s scope by (its windows and caps)."""
        _, kind, name = self._scope(key, model)
        return f"{key}/{kind}:{name}"

    def _scope(self, key: str, model: str) -> Scope:
        group = self._group_of.get(model)
        return (key, "model", model) if group is None else (key, "group", group)

    def _tally(self, key: str, model: str) -> Tally:
        scope = self._scope(key, model)
        tally = self._tallies.get(scope)
        if tally is None:
            tally = self._tallies[scope] = Tally()
        return tally


def _tightest(found: dict[str, dict[str, Any]], label: str, row: dict[str, Any]) -> None:
    current = found.get(label)
    if current is None or row["remaining"] < current["remaining"]:
        found[label] = row


def _cap_label(window: str) -> str:
    return window if window == "retry-after" else f"upstream {window}"


def _limit_waits(
    tally: Tally, limits: Limits, tokens: int, now: float
) -> list[tuple[float | None, str]]:
    checks = (
        ("rpm", tally.minute, limits.rpm, 1, False),
        ("tpm", tally.minute, limits.tpm, tokens, True),
        ("rpd", tally.day, limits.rpd, 1, False),
        ("tpd", tally.day, limits.tpd, tokens, True),
    )
    return [
        (window.fits_at(now, limit, amount, tokens=counts_tokens), name)
        for name, window, limit, amount, counts_tokens in checks
        if limit is not None
    ]
