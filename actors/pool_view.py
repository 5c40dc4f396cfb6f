"""What a `KeyPool` showed when its actor last published: what /stats, /metrics and the
dashboard read of a provider's keys, never the pool itself (`actors.credentials`)."""

from __future__ import annotations

import attrs

from config.model import Credential


@attrs.frozen
class PoolView:
    """What a `KeyPool` showed when its actor last published: keys, leases out, cooldowns
    (index, scope in words, until, strikes, cause, when its probe went out)."""

    keys: tuple[Credential, ...] = ()
    in_flight: tuple[int, ...] = ()
    cooldowns: tuple[tuple[int, str, float, int, str, float | None], ...] = ()
    probe_timeout: float = 0.0

    def cooling(self, now: float) -> list[tuple[int, str, float, int, str]]:
        """The cooldowns in force at `now`, for /stats: (key index, scope as words, seconds
        left, strikes, cause). A half-open one whose probe is out shows with 0 s left."""
        found = []
        for index, words, until, strikes, cause, probe in self.cooldowns:
            probing = probe is not None and now < probe + self.probe_timeout
            if until > now or probing:
                found.append((index, words, max(0.0, until - now), strikes, cause))
        return found
