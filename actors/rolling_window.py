"""A rolling window of requests and tokens, kept as a short deque of time buckets.

An exact log (one timestamp per request) is the obvious structure, but its size grows with
the traffic: a busy key without an `rpm` holds thousands of entries for its minute, and a day
window tens of thousands, all to be walked, pruned and persisted. Here each bucket gathers the
events of one `width` (1 s for the minute window, 60 s for the day window), so a window never
holds more than `span / width + 1` buckets (61 and 1441) whatever the traffic, and pruning,
recording and answering "when will this fit?" walk only as far as they must.

The price is a little caution, never optimism: a bucket counts until its *last* event leaves
the window (`last + span`), so an earlier event in the same bucket is held up to one `width`
longer than an exact log would hold it: under 1 s on a minute, under a minute on a day.
Being a moment late costs nothing; being early costs an upstream 429 and a cooled key.

No clock: every method takes `now`, which callers keep non-decreasing (monotonic seconds).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

import attrs

MINUTE = 60.0
DAY = 86_400.0


@attrs.define
class Bucket:
    start: float
    last: float
    requests: int = 0
    tokens: int = 0


@attrs.define
class RollingWindow:
    span: float
    width: float
    buckets: deque[Bucket] = attrs.field(factory=deque)
    requests: int = 0
    tokens: int = 0

    @classmethod
    def minute(cls) -> RollingWindow:
        return cls(span=MINUTE, width=1.0)

    @classmethod
    def day(cls) -> RollingWindow:
        return cls(span=DAY, width=60.0)

    def prune(self, now: float) -> None:
        """Drop every bucket whose last event has left the window: `[t, t + span)` holds t."""
        while self.buckets and self.buckets[0].last + self.span <= now:
            gone = self.buckets.popleft()
            self.requests -= gone.requests
            self.tokens -= gone.tokens

    def add(self, now: float, requests: int, tokens: int) -> None:
        self.prune(now)
        tail = self.buckets[-1] if self.buckets else None
        if tail is None or now >= tail.start + self.width:
            tail = Bucket(start=now, last=now)
            self.buckets.append(tail)
        tail.last = max(tail.last, now)
        tail.requests += requests
        tail.tokens += tokens
        self.requests += requests
        self.tokens += tokens

    def adjust_tokens(self, at: float, delta: int) -> None:
        """Correct the tokens recorded at time `at` by `delta`, if they are still counted."""
        for bucket in reversed(self.buckets):
            if bucket.start <= at:
                corrected = max(0, bucket.tokens + delta)
                self.tokens += corrected - bucket.tokens
                bucket.tokens = corrected
                return

    def fits_at(self, now: float, limit: int, amount: int, *, tokens: bool) -> float | None:
        """The earliest time >= `now` when `amount` more requests (or tokens) stay within
        `limit`; None if they never will, being more than the limit on their own."""
        if amount > limit:
            return None
        self.prune(now)
        excess = (self.tokens if tokens else self.requests) + amount - limit
        if excess <= 0:
            return now
        for bucket in self.buckets:
            excess -= bucket.tokens if tokens else bucket.requests
            if excess <= 0:
                return bucket.last + self.span
        raise AssertionError("window totals disagree with its buckets")

    def since(self, moment: float) -> tuple[int, int]:
        """Requests and tokens recorded after `moment`, rounded up to whole buckets."""
        requests = tokens = 0
        for bucket in reversed(self.buckets):
            if bucket.last <= moment:
                break
            requests += bucket.requests
            tokens += bucket.tokens
        return requests, tokens

    def dump(self, now: float) -> list[list[float]]:
        """Plain data: `[start, last, requests, tokens]` per bucket, times as ages (now - t)."""
        self.prune(now)
        return [[now - b.start, now - b.last, b.requests, b.tokens] for b in self.buckets]

    def load(self, rows: Iterable[list[float]], now: float) -> None:
        """Refill from `dump` output; ages are taken back from `now`."""
        for start_age, last_age, requests, tokens in rows:
            bucket = Bucket(now - start_age, now - last_age, int(requests), int(tokens))
            self.buckets.append(bucket)
            self.requests += bucket.requests
            self.tokens += bucket.tokens
        self.prune(now)
