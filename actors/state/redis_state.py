"""`SharedState` in Redis or Valkey, which degrades to local state while Redis is away.

Every compound operation is one Lua script (see `actors.state.scripts` for why that makes it
atomic across instances); keys live under `baton:<cluster>:` so several gateways can share
one Redis. The client is coredis, which runs on trio through anyio.

**Degraded mode.** Redis being down or slow must never fail a request, so no method raises
because of it. Each call is bounded by `timeout` (0.5 s); on any error or timeout the answer
comes from the embedded `LocalState`, `up` turns False, `outages` counts one more and one
WARNING is logged for the outage (not one per call). While down, Redis is tried again at most
once per `retry_interval` (1 s); the other calls go straight to local state. The first call
that succeeds turns `up` True and logs an INFO: re-syncing is simply using Redis again, whose
windows still hold what every other instance recorded (and whatever expired meanwhile is
gone, as it should be).

So that local answers are sensible, everything Redis grants this instance is mirrored into
the local state as it happens (its takes, leases, cooldowns, probe claims, and the cooldowns
`cooling` reads back): when Redis vanishes, the local windows already hold this instance's own
recent traffic. What they cannot hold is the other instances' traffic, so **the division is
done here**: while degraded, `take` checks each window divided by `last_instances` (the count
the last successful `heartbeat` returned; each limit floored, at least 1) and `lease` checks
`cap // last_instances` (at least 1). Callers pass the whole cluster's limits, always.

Under trio's `autojump_clock` the timeout would fire as soon as all tasks wait on the socket:
tests against a real Redis use the real clock.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit

import attrs
import coredis
import trio
from coredis.commands.script import Script
from loguru import logger

from actors.state import scripts
from actors.state.local import LocalState
from actors.state.shared import SEPARATOR, Cap, Cooled, Window, check_name

PASSWORD_ENV = "BATON_REDIS_PASSWORD"  # read when the URL carries no password
LONGEST_CAP = 7 * 86_400.0  # seconds a cap's hash may live in Redis, whatever it says
MAX_OWED = 10_000  # slot releases kept for Redis's return; past it the lease TTL frees them
T = TypeVar("T")


class Unavailable(Exception):
    """Redis did not answer this call (internal: always turned into a local answer)."""


def _ms(seconds: float) -> int:
    """A key's real-time expiry for data that lives `seconds`: a second of slack on top."""
    return math.ceil(seconds * 1000) + 1000


@attrs.define
class RedisState:
    """Shared state in Redis; see the module docstring for the degraded mode.

    Health, for `/stats` and the lead's supervision: `up` (False while answering locally),
    `outages` (how many times Redis went away), `last_error` (the latest failure, as text: no
    secret in it), `last_instances` (the divisor of degraded limits)."""

    client: coredis.Redis[str] = attrs.field(repr=False)
    location: str  # host:port/db, for logs; never the password
    cluster: str = "baton"
    timeout: float = 0.5
    retry_interval: float = 1.0
    clock: Callable[[], float] = time.time
    local: LocalState = attrs.field(
        repr=False, default=attrs.Factory(lambda self: LocalState(self.clock), takes_self=True)
    )
    last_instances: int = 1  # from the last successful heartbeat: degraded limits divide by it
    outages: int = 0
    last_error: str | None = None
    _up: bool = True
    _retry_at: float = 0.0
    _down_since: float = 0.0
    _scripts: dict[str, Script[str]] = attrs.field(factory=dict, repr=False)
    # (Redis key, lease id) of slots released (or perhaps taken) while Redis did not answer
    _unreleased: list[tuple[str, str]] = attrs.field(factory=list, repr=False)
    _stack: AsyncExitStack = attrs.field(factory=AsyncExitStack, repr=False)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        cluster: str = "baton",
        password: str | None = None,
        timeout: float = 0.5,
        retry_interval: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> RedisState:
        """`redis://[:password@]host:port/db` or `rediss://...` (TLS). Without a password in
        the URL, `password` or else $BATON_REDIS_PASSWORD is used, if set."""
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss"):
            raise ValueError(f"state URL must be redis:// or rediss://, not {parts.scheme}://")
        extra: dict[str, Any] = {}
        if not parts.password:
            secret = password or os.environ.get(PASSWORD_ENV)
            if secret:
                extra["password"] = secret
        client = coredis.Redis.from_url(
            url,
            decode_responses=True,
            connect_timeout=timeout,
            stream_timeout=timeout,
            **extra,
        )
        location = f"{parts.hostname}:{parts.port or 6379}{parts.path or '/0'}"
        return cls(client, location, cluster, timeout, retry_interval, clock)

    def __attrs_post_init__(self) -> None:
        for name in (
            "TAKE",
            "SETTLE",
            "OBSERVE",
            "LEASE",
            "COOL",
            "COOLING",
            "CLAIM_PROBE",
            "HEARTBEAT",
        ):
            self._scripts[name] = self.client.register_script(getattr(scripts, name))

    async def __aenter__(self) -> RedisState:
        await self._stack.enter_async_context(self.client)  # connects lazily: never raises
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stack.aclose()

    @property
    def up(self) -> bool:
        return self._up

    def key(self, kind: str, *parts: str) -> str:
        return ":".join(("baton", self.cluster, kind, *parts))

    # -- reaching Redis, or not -----------------------------------------------------------

    async def _guarded(self, call: Callable[[], Awaitable[T]]) -> T:
        """`call()` within the timeout; Unavailable (and the outage noted) if it fails."""
        if not self._up:
            if time.monotonic() < self._retry_at:
                await trio.lowlevel.checkpoint()
                raise Unavailable
            self._retry_at = time.monotonic() + self.retry_interval  # this call is the retry
        try:
            with trio.fail_after(self.timeout):
                result = await call()
        except Exception as exc:  # down, slow, refused: every cause is served alike
            self._failed(exc)
            raise Unavailable from exc
        if not self._up:
            self._up = True
            logger.info(
                "shared state: Redis at {} is back after {:.1f} s; sharing state again",
                self.location,
                time.monotonic() - self._down_since,
            )
        if self._unreleased:
            await self._release_owed()
        return result

    async def _release_owed(self) -> None:
        """Give Redis back the slots a release could not reach it for (or a lease whose
        answer was lost may have taken): until then they would hold a key's slot for the
        whole lease TTL. Best effort: what still fails stays owed."""
        owed, self._unreleased = self._unreleased, []
        for redis_key, lease_id in owed:
            try:
                with trio.fail_after(self.timeout):
                    await self.client.zrem(redis_key, [lease_id])
            except Exception:
                self._unreleased.append((redis_key, lease_id))

    def _failed(self, exc: Exception) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if self._up:
            self._up = False
            self.outages += 1
            self._down_since = time.monotonic()
            self._retry_at = self._down_since + self.retry_interval
            logger.warning(
                "shared state: Redis at {} failed ({}); serving from local state, limits "
                "divided by {} instance(s), until it answers again",
                self.location,
                self.last_error,
                self.last_instances,
            )

    async def _script(self, name: str, keys: list[str], args: list[str | int]) -> Any:
        script = self._scripts[name]
        return await self._guarded(lambda: script(keys=keys, args=args))

    # -- SharedState ----------------------------------------------------------------------

    def _window_keys(self, scope: str, windows: tuple[Window, ...]) -> list[str]:
        keys = [self.key("seq", scope)]
        for window in windows:
            keys += [self.key("log", window.name, scope), self.key("sum", window.name, scope)]
        return keys

    async def take(
        self, scope: str, windows: tuple[Window, ...], tokens: int, now: float
    ) -> float | None:
        longest = max((_ms(window.lives(now)) for window in windows), default=1000)
        args: list[str | int] = [repr(now), tokens, longest]
        for window in windows:
            args += [
                repr(now - window.seconds),
                -1 if window.max_requests is None else window.max_requests,
                -1 if window.max_tokens is None else window.max_tokens,
                _ms(window.lives(now)),
            ]
        try:
            keys = [*self._window_keys(scope, windows), self.key("caps", scope)]
            answers = await self._script("TAKE", keys, args)
        except Unavailable:
            shares = tuple(window.divided(self.last_instances) for window in windows)
            return self.local.take_now(scope, shares, tokens, now)
        if answers is None:
            self.local.record(scope, windows, tokens, now)
            return None
        *by_window, capped = answers
        waits = [
            math.inf
            if answer == "never"
            else window.lives(now)
            if window.ends is not None  # a fixed window empties at once, at its end
            else float(answer) + window.seconds - now
            for answer, window in zip(by_window, windows, strict=True)
            if answer != ""
        ]
        if capped != "":
            waits.append(float(capped) - now)
        return max(waits)

    async def observe(self, scope: str, caps: tuple[Cap, ...]) -> None:
        caps = tuple(c for c in caps if math.isfinite(c.until) and math.isfinite(c.seen))
        self.local.observe_now(scope, caps)  # what this instance would go by without Redis
        if not caps:
            await trio.lowlevel.checkpoint()
            return
        lives = min(max(cap.until for cap in caps) - self.clock(), LONGEST_CAP)
        args: list[str | int] = [max(_ms(lives), 1000)]
        for cap in caps:
            check_name(cap.name)
            value = f"{cap.kind}|{cap.remaining}|{cap.until!r}|{cap.seen!r}"
            args += [cap.name, value, repr(cap.seen)]
        try:
            await self._script("OBSERVE", [self.key("caps", scope)], args)
        except Unavailable:
            pass  # kept locally above

    async def settle(self, scope: str, token_delta: int, now: float) -> None:
        spans = self.local.spans.get(scope, ())
        self.local.settle_now(scope, token_delta, now)
        if token_delta <= 0 or not spans:
            await trio.lowlevel.checkpoint()
            return
        windows = spans
        args: list[str | int] = [repr(now), token_delta, *(_ms(w.lives(now)) for w in windows)]
        try:
            await self._script("SETTLE", self._window_keys(scope, windows), args)
        except Unavailable:
            pass  # counted locally above

    async def lease(self, key: str, cap: int, lease_id: str, ttl: float, now: float) -> bool:
        args: list[str | int] = [repr(now), cap, lease_id, repr(now + ttl), _ms(ttl)]
        try:
            granted = await self._script("LEASE", [self.key("lease", key)], args)
        except Unavailable:
            share = cap if cap <= 0 else max(1, cap // self.last_instances)
            held = self.local.lease_now(key, share, lease_id, ttl, now)
            if not held:  # the script may still have run: a slot nobody holds, owed back
                self._owe(self.key("lease", key), lease_id)
            return held
        if granted:
            self.local.lease_now(key, cap, lease_id, ttl, now, force=True)
        return bool(granted)

    async def release(self, key: str, lease_id: str) -> None:
        self.local.release_now(key, lease_id)
        try:
            await self._guarded(lambda: self.client.zrem(self.key("lease", key), [lease_id]))
        except Unavailable:
            self._owe(self.key("lease", key), lease_id)  # freed when Redis answers again

    async def release_held(self) -> None:
        """Give back every slot this instance holds (it is stopping: a rolling deploy must
        not leave a key's slots taken for their TTL by an instance that is gone)."""
        for key, held in list(self.local.leases.items()):
            for lease_id in list(held):
                self._owe(self.key("lease", key), lease_id)
        self.local.leases.clear()
        await self._release_owed()

    def _owe(self, redis_key: str, lease_id: str) -> None:
        if len(self._unreleased) < MAX_OWED:  # past it, the leases' own TTL frees them
            self._unreleased.append((redis_key, lease_id))

    async def cool(self, key: str, scope: str, until: float, strikes: int = 1) -> None:
        self.local.cool_now(key, scope, until, strikes)  # checks the names
        keys = [self.key("cool"), self.key("strikes")]
        try:
            args: list[str | int] = [
                key + SEPARATOR + scope,
                repr(until),
                strikes,
                repr(self.clock()),
            ]
            await self._script("COOL", keys, args)
        except Unavailable:
            pass  # kept locally above

    async def cooling(self, prefix: str, now: float) -> dict[tuple[str, str], Cooled]:
        keys = [self.key("cool"), self.key("strikes")]
        try:
            flat = await self._script("COOLING", keys, [repr(now), prefix])
        except Unavailable:
            return self.local.cooling_now(prefix, now)
        found: dict[tuple[str, str], Cooled] = {}
        for member, end, strikes in zip(flat[::3], flat[1::3], flat[2::3], strict=True):
            key, _, scope = member.partition(SEPARATOR)
            found[(key, scope)] = cooled = Cooled(float(end), int(strikes))
            self.local.cool_now(key, scope, *cooled)
        return found

    async def claim_probe(self, key: str, scope: str, ttl: float) -> bool:
        check_name(key, scope)
        now = self.clock()
        args: list[str | int] = [repr(now), repr(now + ttl), max(1, math.ceil(ttl * 1000))]
        try:
            probe = self.key("probe", key + SEPARATOR + scope)
            won = await self._script("CLAIM_PROBE", [probe], args)
        except Unavailable:
            return self.local.claim_probe_now(key, scope, ttl, now)
        if won:
            self.local.claim_probe_now(key, scope, ttl, now)
        return bool(won)

    async def heartbeat(self, instance: str, ttl: float) -> int:
        now = self.clock()
        args: list[str | int] = [repr(now), repr(now + ttl), instance, _ms(ttl)]
        try:
            alive = int(await self._script("HEARTBEAT", [self.key("instances")], args))
        except Unavailable:
            return self.local.heartbeat_now(instance, ttl, now)
        self.last_instances = max(1, alive)
        return alive
