"""The health checker: probes each provider on its interval and keeps the `HealthBook`.

One loop per probed provider (`health.interval` seconds apart, the first one interval after
start: a restart costs no quota), each probe the cheapest call the provider has: `GET /models`,
or with `probe: completion` a 1-token chat completion to its first listed model. A probe is a
call like any other as far as the provider's keys go: it takes a key from the credential pool
with `lease_now`, which never waits and never takes a key that is cooling, at its cap or
without rate headroom (then the round is skipped and nothing is counted), and gives it back
with what happened, so a 429 or a 401 on a probe cools the key as a real call's would and the
probe counts against the key's windows. A round is also skipped when a real call said
something of the provider within the last interval: the traffic already told.

Probes go out on an httpx2 client of the checker's own per provider (`open_client`, with at
most two connections), so they never hold a connection a real call could use.

The checker is an actor: only its inbox loop touches the `HealthBook`. The walk tells it each
call's outcome (`observe_call`, an `Observed` message) and the probe loops, its own child
tasks, send theirs the same way. Observations are told with `send_nowait`: when the inbox is
full one is dropped and counted (`dropped`); health is a trend over many outcomes, so a
dropped one changes nothing an overloaded gateway would notice. After each batch the loop
publishes a `HealthView`, which is what others read: `ActorSystem.health`, the walk's chain
order (`actors.routing.effective_chain`), /stats, and the probe loops' "heard from lately".
A crash of any of its tasks restarts the checker whole (`actors.supervision`); the book lives
on the object and survives.

In a fleet (`state:`), after a batch of observations the checker tells the shared state which
providers it finds down and learns which the others do (at most every `FLEET_EVERY` seconds; a
verdict stands `FLEET_DOWN_FOR` seconds unless renewed); its view walks those last too
(`HealthView.fleet_down`), unless this instance has its own evidence they are up.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from contextlib import aclosing
from typing import Protocol

import attrs
import httpx2
import trio
from loguru import logger

from actors.health_book import Health, HealthBook, HealthView
from actors.messages import HealthMessage, KeyLease, Observed
from actors.state import SharedState, Solo
from actors.supervision import ActorUnavailable, tell
from actors.upstream_client import (
    PROBE_CONNECTIONS,
    decoded_body,
    endpoint,
    open_client,
    transport_failure,
    windows_of,
)
from actors.upstream_dialect import credential_headers
from config.health import probe_model
from config.model import ANY_MODEL, Config
from protocols import jsoncodec
from protocols.anthropic.upstream_reply import check_message
from protocols.chat import check_completion
from protocols.failures import (
    FailureClass,
    UpstreamFailure,
    UpstreamFault,
    classify_response,
    shown,
)
from protocols.ratelimit_headers import WindowState

MAX_PROBE_BYTES = 4 * 1024 * 1024  # of a probe's reply: a model list, or a 1-token completion
INBOX_SIZE = 4096
FLEET_HEALTH = "~health/"  # shared-state keys of providers found down (no provider/alias clash)
FLEET_EVERY = 1.0  # seconds between exchanges of verdicts with the fleet
FLEET_DOWN_FOR = 30.0  # seconds a "down" verdict stands unless renewed


class ProbePool(Protocol):
    """What a probe needs of a provider's credential pool (`CredentialPool` has it)."""

    async def lease_now(self, model: str) -> KeyLease | None: ...

    async def release(
        self,
        lease: KeyLease,
        model: str,
        failure: UpstreamFailure | None = None,
        *,
        served: bool = True,
        windows: tuple[WindowState, ...] = (),
    ) -> None: ...


@attrs.frozen
class ProbePlan:
    """How one provider is probed, every field resolved."""

    provider: str
    interval: float
    timeout: float
    probe: str  # "models" | "completion"
    model: str | None  # the completion's model, and what the key is leased for

    @classmethod
    def for_provider(cls, config: Config, provider: str) -> ProbePlan | None:
        """None when `provider` is not probed (`interval: 0`)."""
        settings = config.health_for(provider)
        assert settings.interval is not None and settings.timeout is not None
        if settings.interval <= 0:
            return None
        model = probe_model(config, provider)
        probe = settings.probe if model is not None else "models"
        return cls(provider, settings.interval, settings.timeout, probe or "models", model)

    @property
    def lease_model(self) -> str:
        return self.model if self.model is not None else ANY_MODEL


@attrs.frozen
class ProbeResult:
    provider: str
    failure: UpstreamFailure | None
    latency: float  # seconds, from sending the probe to the end of its reply


@attrs.define
class HealthChecker:
    config: Config
    pools: Mapping[str, ProbePool]
    book: HealthBook = attrs.field()
    probes_sent: int = attrs.field(default=0, init=False)
    rounds_skipped: int = attrs.field(default=0, init=False)
    dropped: int = attrs.field(default=0, init=False)  # observations lost to a full inbox
    view: HealthView = attrs.field(init=False)
    _post: trio.MemorySendChannel[HealthMessage] = attrs.field(init=False, repr=False)
    _inbox: trio.MemoryReceiveChannel[HealthMessage] = attrs.field(init=False, repr=False)
    _clients: dict[str, httpx2.AsyncClient] = attrs.field(factory=dict, init=False)
    # what the gateway's instances agree on (`actors.state`): who found which provider down
    shared: SharedState = attrs.field(factory=Solo)
    _fleet_at: float = attrs.field(default=-math.inf, init=False)

    @book.default
    def _book(self) -> HealthBook:
        return HealthBook.for_config(self.config)

    def __attrs_post_init__(self) -> None:
        if self.book.on_change is None:
            self.book.on_change = _log_change
        self.view = HealthView(self.book.copy())
        self._post, self._inbox = trio.open_memory_channel[HealthMessage](INBOX_SIZE)

    def plans(self) -> list[ProbePlan]:
        """Every provider that is probed, and how."""
        found = (ProbePlan.for_provider(self.config, name) for name in self.config.providers)
        return [plan for plan in found if plan is not None and plan.provider in self.pools]

    def observe_call(
        self, provider: str, failure: FailureClass | None, latency: float | None
    ) -> None:
        """A real call to `provider` ended (see `HealthBook.observe_call`): told, not asked."""
        self._tell(Observed(provider, failure, latency, trio.current_time()))

    def _tell(self, message: HealthMessage) -> None:
        if not tell(self._post, message):
            self.dropped += 1

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Probe every provider on its interval, and keep the book, until cancelled."""
        try:
            async with trio.open_nursery() as nursery:
                for plan in self.plans():
                    nursery.start_soon(self._probe_loop, plan)
                task_status.started()
                await self._serve_inbox()
        finally:
            with trio.CancelScope(shield=True):
                for client in self._clients.values():
                    await client.aclose()
                self._clients.clear()  # a restarted checker opens new ones

    async def _serve_inbox(self) -> None:
        while True:
            message: HealthMessage | None = await self._inbox.receive()
            while message is not None:  # the whole batch, then one publish
                observe = self.book.observe_probe if message.probe else self.book.observe_call
                observe(message.provider, message.failure, message.latency, message.at)
                try:
                    message = self._inbox.receive_nowait()
                except trio.WouldBlock:
                    message = None
            self.view = HealthView(self.book.copy(), await self._fleet_down())

    async def _fleet_down(self) -> frozenset[str]:
        """Tell the fleet which providers this instance finds down, and learn which the
        others do (at most every `FLEET_EVERY` seconds; a verdict lasts `FLEET_DOWN_FOR`)."""
        now = trio.current_time()
        if now < self._fleet_at + FLEET_EVERY:
            return self.view.fleet_down
        self._fleet_at = now
        wall = time.time()
        for provider in self.config.providers:
            if self.book.state(provider, now) is Health.DOWN:
                await self.shared.cool(FLEET_HEALTH + provider, "down", wall + FLEET_DOWN_FOR)
        found = await self.shared.cooling(FLEET_HEALTH, wall)
        return frozenset(key.removeprefix(FLEET_HEALTH) for key, _ in found)

    async def _probe_loop(self, plan: ProbePlan) -> None:
        next_at = trio.current_time() + plan.interval
        while True:
            await trio.sleep_until(next_at)
            await self.probe_once(plan)
            next_at = max(next_at + plan.interval, trio.current_time())

    async def probe_once(self, plan: ProbePlan) -> ProbeResult | None:
        """One round for `plan`'s provider: the probe's result, or None when it was skipped
        (recent real traffic, or no key free to probe with)."""
        now = trio.current_time()
        if self.view.heard_from_since(plan.provider, now - plan.interval):
            self.rounds_skipped += 1
            return None
        pool = self.pools[plan.provider]
        try:
            lease = await pool.lease_now(plan.lease_model)
        except ActorUnavailable:
            lease = None  # the pool is restarting: this round is skipped
        if lease is None:
            self.rounds_skipped += 1
            return None
        self.probes_sent += 1
        started = trio.current_time()
        answered = False
        try:
            failure, windows = await self._send(plan, lease)
            answered = True
        finally:
            if not answered:  # cancelled: nothing is known of the key
                await pool.release(lease, plan.lease_model, served=False)
        await pool.release(lease, plan.lease_model, failure, windows=windows)
        finished = trio.current_time()
        result = ProbeResult(plan.provider, failure, finished - started)
        kind = failure.failure if failure is not None else None
        self._tell(Observed(plan.provider, kind, result.latency, finished, probe=True))
        if failure is not None:
            logger.debug("health probe of {} failed: {}", plan.provider, failure.message)
        return result

    async def _send(
        self, plan: ProbePlan, lease: KeyLease
    ) -> tuple[UpstreamFailure | None, tuple[WindowState, ...]]:
        """Send the probe and read its reply within the plan's timeout: what went wrong, if
        anything, and what the reply's headers said of the key's rate limits."""
        provider = self.config.providers[plan.provider]
        headers = credential_headers(provider.kind, lease.credential.secret)
        base_url = provider.base_url
        client = self._client(plan)
        anthropic = provider.kind == "anthropic"
        if plan.probe == "completion":
            url = endpoint(base_url, "messages" if anthropic else "chat/completions")
            body = _completion_body(plan.model or "")
            request = client.build_request("POST", url, content=body, headers=headers)
        else:
            request = client.build_request("GET", endpoint(base_url, "models"), headers=headers)
        windows: tuple[WindowState, ...] = ()
        head = False
        with trio.move_on_after(plan.timeout):
            try:
                response = await client.send(request, stream=True)
                head = True
                try:
                    windows = windows_of(response.headers)
                    reply = await _read_capped(response)
                finally:
                    with trio.move_on_after(1.0, shield=True):
                        await response.aclose()
            except httpx2.HTTPError as exc:
                return transport_failure(exc, after_head=head), windows
            except UpstreamFault as fault:  # a body that does not decode
                return fault.failure, windows
            if response.status_code >= 300:
                failure = classify_response(
                    response.status_code, reply, response.headers, now=time.time()
                )
                return _scrubbed(failure, plan, lease), windows
            if plan.probe != "completion":
                check = _check_models
            else:
                check = check_message if anthropic else check_completion
            return check(reply), windows
        return _failure(FailureClass.TIMEOUT, f"probe not answered in {plan.timeout:g}s"), windows

    def _client(self, plan: ProbePlan) -> httpx2.AsyncClient:
        """The checker's own client for `plan`'s provider: as the provider actor's, but with
        room for one probe (and a spare), and connecting within the probe's timeout."""
        client = self._clients.get(plan.provider)
        if client is None:
            provider = self.config.providers[plan.provider]
            connect = min(self.config.timeouts.connect, plan.timeout)
            timeouts = attrs.evolve(self.config.timeouts, connect=connect)
            client = open_client(provider, timeouts, max_connections=PROBE_CONNECTIONS)
            self._clients[plan.provider] = client
        return client


async def _read_capped(response: httpx2.Response) -> bytes:
    """The reply's body, but no more than `MAX_PROBE_BYTES` of it (a model list is small)."""
    pieces: list[bytes] = []
    size = 0
    async with aclosing(decoded_body(response)) as chunks:
        async for piece in chunks:
            size += len(piece)
            if size > MAX_PROBE_BYTES:
                break
            pieces.append(piece)
    return b"".join(pieces)


def _completion_body(model: str) -> bytes:
    """The smallest completion there is; the same body is a valid Messages request."""
    message = {"role": "user", "content": "ping"}
    return jsoncodec.dumps({"model": model, "messages": [message], "max_tokens": 1})


def _check_models(body: bytes) -> UpstreamFailure | None:
    """None if a 200 body is JSON (a model list, by any provider's shape)."""
    try:
        jsoncodec.loads(body)
    except ValueError:
        return _failure(FailureClass.MALFORMED, "GET /models answered with a body not JSON", 200)
    return None


def _failure(kind: FailureClass, message: str, status: int | None = None) -> UpstreamFailure:
    return UpstreamFailure(kind, message, status=status)


def _scrubbed(failure: UpstreamFailure, plan: ProbePlan, lease: KeyLease) -> UpstreamFailure:
    if failure.failure is FailureClass.AUTH:
        message = (
            f"upstream {plan.provider} rejected key {lease.credential.alias}"
            f" (HTTP {failure.status})"
        )
        failure = attrs.evolve(failure, message=message)
    return shown(failure, [lease.credential.secret])


def _log_change(provider: str, before: Health, after: Health) -> None:
    logger.info("provider {} is {} (was {})", provider, after.value, before.value)
