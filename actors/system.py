"""Starts the actor system for one configuration and hands the edge what it needs.

Every actor is started the same way: `supervise(name, actor.run)` in the system's nursery, so
each one is restarted on its own when it crashes (one for one, with backoff), keeping the
bookkeeping on its object. The order matters only at start-up: the state keeper restores the
pools' cooldowns and the trackers' windows before any of them serves, and the telemetry reads
back today's sums before any call is counted.
"""

from __future__ import annotations

import time as wall_time
from datetime import time
from functools import partial
from pathlib import Path

import attrs
import trio

from actors.credentials import CredentialPool
from actors.embedding_batcher import EmbeddingBatcher
from actors.fleet_keys import FleetKeys
from actors.health import HealthChecker
from actors.health_book import HealthView
from actors.keypool import KeyPool
from actors.provider import ProviderActor
from actors.ratelimit import RateLimitTracker
from actors.ratelimit_book import RateLimitBook
from actors.routing import Router
from actors.state import SharedState, Solo
from actors.state_keeper import STATE_FILE, StateKeeper
from actors.store import ResponseStore, ResponseStoreLike
from actors.supervision import Runnable, supervise
from actors.supervisor import Supervisor
from actors.telemetry.actor import TELEMETRY_FILE, Telemetry
from actors.telemetry.snapshot import LiveState
from actors.telemetry.stats_book import DAY
from config.model import Config
from config.prices import cost_of
from protocols.usage import Usage

RESPONSES_FILE = "responses.sqlite3"


@attrs.define
class ActorSystem:
    config: Config
    router: Router
    supervisor: Supervisor
    responses: ResponseStoreLike  # SQLite in the data directory, or the shared Redis
    checker: HealthChecker | None = None
    batcher: EmbeddingBatcher | None = None  # embeddings go through it (actors.embedding_batcher)
    ready: trio.Event = attrs.field(factory=trio.Event)
    books: dict[str, RateLimitBook] = attrs.field(factory=dict)  # the trackers' own: tests look
    trackers: dict[str, RateLimitTracker] = attrs.field(factory=dict)  # rate windows, by provider
    pools: dict[str, CredentialPool] = attrs.field(factory=dict)
    telemetry: Telemetry = attrs.field(factory=lambda: Telemetry(None))
    stats: LiveState | None = None  # /stats and /metrics read it

    @property
    def health(self) -> HealthView:
        """What the health checker last published (read-only, as every reader's)."""
        return self.checker.view if self.checker is not None else HealthView()

    @classmethod
    async def start(
        cls, nursery: trio.Nursery, config: Config, data_dir: Path | None = None
    ) -> ActorSystem:
        """Start every actor under `nursery`, each supervised (restarted, with backoff, when
        it crashes: `actors.supervision`); returns once all of them are running. State goes
        to `data_dir`, or stays in memory without one."""

        async def start(name: str, run: Runnable) -> None:
            await nursery.start(partial(supervise, name, run))

        store = _response_store(config, data_dir)
        await start("response store", store.run)
        settings = config.telemetry
        telemetry = Telemetry(
            data_dir / TELEMETRY_FILE if data_dir is not None else None,
            retention=settings.retention_days * DAY,
            buffer=settings.buffer,
            daily_reset=config.daily_reset_utc or time(0, 0),
            prices=partial(_cost, config),
        )
        await start("telemetry", telemetry.run)  # today's sums are read back before any call
        router = Router(config)
        fleet = None  # what the gateway's instances agree on, chosen here and only here
        shared: SharedState = Solo()
        if config.state.url is not None:
            from actors.fleet import Fleet  # coredis: imported only when a fleet needs it
            from actors.state.redis_state import RedisState

            shared = RedisState.from_url(config.state.url, cluster=config.state.cluster)
            fleet = Fleet(shared, config.state.cluster)
            await start("fleet", fleet.run)
        books = {name: RateLimitBook.for_provider(p) for name, p in config.providers.items()}
        trackers = {
            name: RateLimitTracker(books[name], tuple(key.alias for key in p.keys), shared, name)
            for name, p in config.providers.items()
        }
        pools = {
            name: CredentialPool(KeyPool.for_provider(p), trackers[name], FleetKeys(name, shared))
            for name, p in config.providers.items()
        }
        state_file = data_dir / STATE_FILE if data_dir is not None else None
        keys = {name: pool.pool for name, pool in pools.items()}
        keeper = StateKeeper.for_config(state_file, config, keys, books)
        await start("state keeper", keeper.run)  # restores cooldowns and windows before a lease
        providers = {
            name: ProviderActor(provider, config.timeouts)
            for name, provider in config.providers.items()
        }
        for name, tracker in trackers.items():
            await start(f"rate-limit tracker {name}", tracker.run)
        for name, pool in pools.items():
            await start(f"credential pool {name}", pool.run)
        for name, provider in providers.items():
            await start(f"provider {name}", provider.run)
        checker = HealthChecker(config, pools, shared=shared)
        supervisor = Supervisor(router, pools, providers, checker)
        await start("supervisor", supervisor.run)
        await start("health checker", checker.run)
        embeddings = config.embeddings
        batcher = EmbeddingBatcher(supervisor, embeddings.batch_window, embeddings.max_batch_inputs)
        await start("embedding batcher", batcher.run)
        system = cls(config, router, supervisor, store, checker)
        system.batcher = batcher
        system.books, system.trackers, system.pools = books, trackers, pools
        system.telemetry = telemetry
        system.stats = LiveState(
            router, pools, trackers, checker, telemetry, wall_time.time(), fleet
        )
        telemetry.watch(system.stats.live, config.virtual_models)
        system.ready.set()
        return system


def _response_store(config: Config, data_dir: Path | None) -> ResponseStoreLike:
    """Stored responses where every instance can read them: in the shared Redis when
    `state:` names one, else in this process's data directory (or memory)."""
    if config.state.url is not None:
        from actors.store.redis_responses import RedisResponseStore  # coredis: only if used

        return RedisResponseStore.from_url(config.state.url, cluster=config.state.cluster)
    return ResponseStore.open(data_dir / RESPONSES_FILE if data_dir is not None else None)


def _cost(config: Config, provider: str | None, model: str | None, usage: Usage) -> float | None:
    if provider is None or model is None:
        return None
    return cost_of(usage, config.price_for(provider, model))
