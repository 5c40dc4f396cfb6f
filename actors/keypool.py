"""Which key of a provider to use next: rotation, per-key concurrency and cooldowns.

A plain class with no I/O and no clock of its own: every method that depends on time takes
`now`, so tests drive it with exact numbers. The durations are a `CooldownPolicy`
(`config.cooldowns`).

Cooldowns have a scope. A rate limit (429, quota) cools one key for one model, or for the
model's whole quota group (aliases drawing on one upstream quota), since providers meter each
model separately; an auth failure (401, 403) cools the key for every model (`ALL_MODELS`). So
does a *lockout*: a key rate-limited on `lockout_models` distinct scopes within
`lockout_within` seconds, with no success between, is out of quota as a whole. Each
consecutive failure of a scope climbs its ladder (auth failures and lockouts share the
whole-key one); an upstream Retry-After replaces a rate limit's rung. A new failure extends a
cooldown, never shortens it. A success resets the key's cooldowns for the model and for every
model, unless given a `now` at which they are still running: then it is the answer to a
request sent before the failure, and the cooldown stands.

Half-open: when a cooldown ends, it is not forgotten. The next `acquire` that picks the key
for that scope takes it as the one probe, and the scope stays closed to everyone else until
the probe's outcome: a success resets the cooldown, a failure re-cools it one rung up, and
anything else (a release with no outcome, a server error or timeout that says nothing of the
key) reopens it for one more probe. While a probe is out, `cooling_until` says
`now + probe_hold`; a probe not back within `probe_timeout` is taken as lost. A probe is known
by its key and scope, not by its lease: the outcome of an older lease of the same key and
scope ends it too. After an ended whole-key cooldown, a rate limit re-cools the key whole
(lockout ladder) if it was a lockout; if it was an auth failure, the key evidently
authenticates again, and only the model cools.

Which ready key is leased (tiers, rotation, rotation tolerance) is `actors.key_choice`; a
key's concurrency cap is `max_concurrent` times its tier's multiplier (1 if none).

`snapshot(now)`/`restore(data, now, elapsed)` carry cooldowns and the lockout tally across a
restart as plain data, keys named by alias and times as offsets from `now` (a monotonic clock
does not survive a restart). Probes in flight are not kept: after a restart an ended cooldown
is half-open again. `version` counts the changes a snapshot would show.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import attrs

from actors.key_choice import KeyChooser
from actors.pool_view import PoolView
from config.model import CooldownPolicy, Credential, ProviderConfig
from protocols.failures import FailureClass, UpstreamFailure

__all__ = ["ALL_MODELS", "Busy", "Cooldown", "CooldownPolicy", "Cooling", "KeyPool", "PoolView"]

ALL_MODELS = None
Scope = tuple[str, str] | None  # ("model", name), ("group", name), or ALL_MODELS
SNAPSHOT_VERSION = 1
FORGET_AFTER = 86_400.0  # an ended cooldown with no failure for a day is forgotten, strikes too
AUTH, LOCKOUT = "auth", "lockout"  # why a key is cooled for every model


def rung(ladder: tuple[float, ...], strikes: int) -> float:
    """The cooldown after the `strikes`-th consecutive failure: the last rung repeats."""
    return ladder[min(strikes, len(ladder)) - 1]


@attrs.define
class Cooldown:
    until: float
    strikes: int
    cause: str | None = None  # ALL_MODELS only: AUTH or LOCKOUT
    probe: float | None = None  # when the half-open probe was leased; None: none is out
    probe_for: Scope = None  # the scope whose lease holds the probe (for ALL_MODELS)


@attrs.frozen
class Busy:
    """Keys exist that are not cooling, but every one is at its concurrency cap."""


@attrs.frozen
class Cooling:
    until: float | None  # None: no key will free up by itself (all excluded)


@attrs.define
class KeyPool:
    keys: tuple[Credential, ...]
    rotation: str = "balanced"
    max_concurrent: int | None = None
    policy: CooldownPolicy = attrs.field(factory=CooldownPolicy)
    quota_groups: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)
    tier_multipliers: Mapping[int, int] = attrs.field(factory=dict)
    tolerance: float = 0.0
    rng: random.Random = attrs.field(factory=random.Random, repr=False)
    in_flight: list[int] = attrs.field(init=False)
    uses: list[int] = attrs.field(init=False)  # leases each key has had (for `tolerance`)
    version: int = attrs.field(init=False, default=0)
    _cooldowns: dict[tuple[int, Scope], Cooldown] = attrs.field(init=False, factory=dict)
    # per key: when each scope was last rate-limited, since the key's last success
    _recent: dict[int, dict[Scope, float]] = attrs.field(init=False, factory=dict)
    _group_of: dict[str, str] = attrs.field(init=False, factory=dict)
    _chooser: KeyChooser = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        if not self.keys:
            raise ValueError("a key pool needs at least one key")
        self.in_flight = [0] * len(self.keys)
        self.uses = [0] * len(self.keys)
        self._chooser = KeyChooser(self.rotation, self.tolerance, self.rng)
        for group, models in self.quota_groups.items():
            self._group_of.update(dict.fromkeys(models, group))

    @classmethod
    def for_provider(cls, provider: ProviderConfig) -> KeyPool:
        return cls(
            provider.keys,
            provider.rotation,
            provider.max_concurrent_per_key,
            provider.cooldowns,
            provider.rate_limits.quota_groups,
            provider.tier_multipliers,
            provider.rotation_tolerance,
        )

    # -- leasing ----------------------------------------------------------------------------

    def acquire(
        self, model: str, now: float, exclude: frozenset[int] = frozenset()
    ) -> int | Busy | Cooling:
        """Lease a key for `model`: its index, or why none can be had now. A key whose
        cooldown has ended goes out as that cooldown's probe."""
        scope = self._scope(model)
        ready = [
            index
            for index in range(len(self.keys))
            if index not in exclude and self._closed_until(index, scope, now) is None
        ]
        if not ready:
            return Cooling(self.next_free_at(model, now, exclude))
        open_keys = [index for index in ready if not self._at_cap(index)]
        if not open_keys:
            return Busy()
        index = self._choose(open_keys)
        self.in_flight[index] += 1
        self.uses[index] += 1
        for cooled in (scope, ALL_MODELS):
            cooldown = self._cooldowns.get((index, cooled))
            if cooldown is not None and cooldown.until <= now:
                cooldown.probe, cooldown.probe_for = now, scope
        return index

    def release(self, index: int, model: str | None = None) -> None:
        """Give a key back. With `model`, a probe this lease held reopens for another (its
        outcome, if any, comes with `record_*`); without it, a probe reopens only once the
        key has no lease out at all, or after `probe_timeout`."""
        if self.in_flight[index] <= 0:
            raise ValueError(f"key {index} released more often than leased")
        self.in_flight[index] -= 1
        if model is not None:
            self._end_probe(index, self._scope(model))
        if self.in_flight[index] == 0:
            for (key, _), cooldown in self._cooldowns.items():
                if key == index:
                    cooldown.probe = None

    def cooling_until(self, index: int, model: str, now: float) -> float | None:
        """When `index` may serve `model` again, or None if it may now."""
        return self._closed_until(index, self._scope(model), now)

    def holds_probe(self, index: int, model: str, now: float) -> bool:
        """The lease of `index` for `model` just taken at `now` is a half-open probe."""
        scope = self._scope(model)
        return any(
            (cooldown := self._cooldowns.get((index, cooled))) is not None
            and cooldown.probe == now
            and cooldown.probe_for == scope
            for cooled in (scope, ALL_MODELS)
        )

    def impose(
        self,
        index: int,
        model: str | None,
        until: float,
        strikes: int = 1,
        cause: str = AUTH,
    ) -> None:
        """A cooldown another instance set (`actors.fleet_keys`): `model`'s scope (None: every
        model, for `cause`) stays closed until `until`, as long as any of its own, and its
        ladder stands at least at `strikes`, so the next failure here escalates from the
        fleet's count."""
        scope = ALL_MODELS if model is None else self._scope(model)
        current = self._cooldowns.get((index, scope))
        if current is None:
            cause_ = cause if model is None else None
            self._cooldowns[(index, scope)] = Cooldown(until, strikes, cause_)
        elif until > current.until or strikes > current.strikes:
            current.until = max(until, current.until)
            current.strikes = max(strikes, current.strikes)
        else:
            return
        self.version += 1

    def cooldowns_of(self, index: int, model: str) -> list[tuple[str | None, Cooldown]]:
        """The cooldowns that close `index` for `model`: the model's scope (named None) and
        the whole key's (named by its cause), as they stand."""
        found: list[tuple[str | None, Cooldown]] = []
        own = self._cooldowns.get((index, self._scope(model)))
        if own is not None:
            found.append((None, own))
        whole = self._cooldowns.get((index, ALL_MODELS))
        if whole is not None:
            found.append((whole.cause or AUTH, whole))
        return found

    def next_free_at(
        self, model: str, now: float, exclude: frozenset[int] = frozenset()
    ) -> float | None:
        scope = self._scope(model)
        ends = [
            until
            for index in range(len(self.keys))
            if index not in exclude and (until := self._closed_until(index, scope, now)) is not None
        ]
        return min(ends) if ends else None

    # -- outcomes ---------------------------------------------------------------------------

    def record_success(self, index: int, model: str, now: float | None = None) -> None:
        """`index` served `model`: its cooldowns for the model and for every model reset,
        except those still running at `now` (the answer to a request sent before them)."""
        scope = self._scope(model)
        self._end_probe(index, scope)
        for cooled in (scope, ALL_MODELS):
            cooldown = self._cooldowns.get((index, cooled))
            if cooldown is not None and (now is None or cooldown.until <= now):
                del self._cooldowns[(index, cooled)]
                self.version += 1
        if self._recent.pop(index, None):
            self.version += 1

    def record_failure(self, index: int, model: str, failure: UpstreamFailure, now: float) -> None:
        scope = self._scope(model)
        self._end_probe(index, scope)
        if not failure.failure.cools_key:
            return
        self.version += 1
        whole = self._cooldowns.get((index, ALL_MODELS))
        if failure.failure is FailureClass.AUTH:
            self._cool(index, ALL_MODELS, self.policy.auth, now, cause=AUTH)
            return
        self._cool(index, scope, self.policy.rate_limit, now, retry_after=failure.retry_after)
        if whole is not None and whole.until <= now:  # the key's half-open whole-key cooldown
            if whole.cause == LOCKOUT:
                self._cool(index, ALL_MODELS, self.policy.lockout, now, cause=LOCKOUT)
                return
            del self._cooldowns[(index, ALL_MODELS)]  # it authenticates again
        self._note_spread(index, scope, now)

    def cooling(self, now: float) -> list[tuple[int, str, float, int, str]]:
        """The cooldowns in force at `now`, for /stats (see `PoolView.cooling`)."""
        return self.view().cooling(now)

    def view(self) -> PoolView:
        """A frozen picture of the keys in flight and the cooldowns, for readers that only look."""
        rows = tuple(
            (index, _scope_words(scope), c.until, c.strikes, c.cause or "rate_limit", c.probe)
            for (index, scope), c in self._cooldowns.items()
        )
        return PoolView(self.keys, tuple(self.in_flight), rows, self.policy.probe_timeout)

    # -- persistence ------------------------------------------------------------------------

    def snapshot(self, now: float) -> dict[str, Any]:
        """Plain data (JSON-ready): keys by alias, every time an offset from `now`."""
        self._forget(now)
        cooldowns = []
        for (index, scope), cooldown in self._cooldowns.items():
            row = {"key": self.keys[index].alias, **_scope_fields(scope)}
            row.update(ends_in=cooldown.until - now, strikes=cooldown.strikes)
            if scope is ALL_MODELS:
                row["cause"] = cooldown.cause
            cooldowns.append(row)
        recent = [
            {"key": self.keys[index].alias, **_scope_fields(scope), "ago": now - at}
            for index, scopes in self._recent.items()
            for scope, at in scopes.items()
        ]
        return {"version": SNAPSHOT_VERSION, "cooldowns": cooldowns, "recent": recent}

    def restore(self, data: dict[str, Any], now: float, elapsed: float = 0.0) -> None:
        """Replace the state with a `snapshot`'s, taken `elapsed` seconds before `now`. Rows
        for keys or quota groups no longer configured are dropped; a model that has joined a
        quota group since takes its rows to the group."""
        if data.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"unknown key-pool snapshot version {data.get('version')!r}")
        taken = now - elapsed
        index_of = {key.alias: index for index, key in enumerate(self.keys)}
        self._cooldowns.clear()
        self._recent.clear()
        self.version += 1
        for row in data["cooldowns"]:
            index, scope = index_of.get(row["key"]), self._restored_scope(row)
            if index is None or isinstance(scope, str):  # "gone": a group no longer configured
                continue
            until, strikes = taken + float(row["ends_in"]), int(row["strikes"])
            if until + FORGET_AFTER <= now:
                continue
            current = self._cooldowns.get((index, scope))
            if current is not None:
                until, strikes = max(until, current.until), max(strikes, current.strikes)
            cause = row.get("cause") if scope is ALL_MODELS else None
            self._cooldowns[(index, scope)] = Cooldown(until, strikes, cause)
        for row in data["recent"]:
            index, scope = index_of.get(row["key"]), self._restored_scope(row)
            at = taken - float(row["ago"])
            if index is None or isinstance(scope, str):
                continue
            if now - at < self.policy.lockout_within:
                recent = self._recent.setdefault(index, {})
                recent[scope] = max(at, recent.get(scope, at))

    # -- inside -----------------------------------------------------------------------------

    def _scope(self, model: str) -> Scope:
        group = self._group_of.get(model)
        return ("model", model) if group is None else ("group", group)

    def _restored_scope(self, row: dict[str, Any]) -> Scope | str:
        if row.get("all_models"):
            return ALL_MODELS
        if "group" in row:
            return ("group", row["group"]) if row["group"] in self.quota_groups else "gone"
        return self._scope(row["model"])

    def _closed_until(self, index: int, scope: Scope, now: float) -> float | None:
        ends = []
        for cooled in (scope, ALL_MODELS):
            cooldown = self._cooldowns.get((index, cooled))
            if cooldown is None:
                continue
            if cooldown.until > now:
                ends.append(cooldown.until)
            elif cooldown.probe is not None:
                lost_at = cooldown.probe + self.policy.probe_timeout
                if now < lost_at:
                    ends.append(min(now + self.policy.probe_hold, lost_at))
        return max(ends) if ends else None

    def _end_probe(self, index: int, scope: Scope) -> None:
        own = self._cooldowns.get((index, scope))
        if own is not None:
            own.probe = None
        whole = self._cooldowns.get((index, ALL_MODELS))
        if whole is not None and whole.probe_for == scope:
            whole.probe = None

    def _cool(
        self,
        index: int,
        scope: Scope,
        ladder: tuple[float, ...],
        now: float,
        *,
        retry_after: float | None = None,
        cause: str | None = None,
    ) -> None:
        current = self._cooldowns.get((index, scope))
        strikes = (current.strikes if current else 0) + 1
        until = now + (retry_after if retry_after is not None else rung(ladder, strikes))
        if current is not None:
            until = max(until, current.until)
        self._cooldowns[(index, scope)] = Cooldown(until, strikes, cause)

    def _note_spread(self, index: int, scope: Scope, now: float) -> None:
        """Count a rate limit towards the key's lockout: distinct scopes within the window."""
        if self.policy.lockout_models is None:
            return
        recent = self._recent.setdefault(index, {})
        recent[scope] = now
        for old in [s for s, at in recent.items() if now - at >= self.policy.lockout_within]:
            del recent[old]
        if len(recent) >= self.policy.lockout_models:
            recent.clear()
            self._cool(index, ALL_MODELS, self.policy.lockout, now, cause=LOCKOUT)

    def _forget(self, now: float) -> None:
        for where, cooldown in list(self._cooldowns.items()):
            if cooldown.probe is None and cooldown.until + FORGET_AFTER <= now:
                del self._cooldowns[where]
                self.version += 1
        for index, recent in list(self._recent.items()):
            for old in [s for s, at in recent.items() if now - at >= self.policy.lockout_within]:
                del recent[old]
            if not recent:
                del self._recent[index]

    def cap(self, index: int) -> int | None:
        """How many leases key `index` may have out at once; None: no cap."""
        if self.max_concurrent is None:
            return None
        return self.max_concurrent * self.tier_multipliers.get(self.keys[index].tier, 1)

    def _at_cap(self, index: int) -> bool:
        cap = self.cap(index)
        return cap is not None and self.in_flight[index] >= cap

    def _choose(self, candidates: list[int]) -> int:
        tiers = [key.tier for key in self.keys]
        return self._chooser.choose(candidates, tiers, self.in_flight, self.uses)


def _scope_words(scope: Scope) -> str:
    if scope is ALL_MODELS:
        return "all models"
    kind, name = scope
    return f"{kind} {name}"


def _scope_fields(scope: Scope) -> dict[str, Any]:
    if scope is ALL_MODELS:
        return {"all_models": True}
    kind, name = scope
    return {kind: name}
