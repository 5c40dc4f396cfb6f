"""Starts the actor system for one configuration and hands the edge what it needs."""

from __future__ import annotations

import time as wall_time
from datetime import time
from functools import partial
from pathlib import Path

import attrs
import trio

from actors.credentials import CredentialPool
from actors.health import HealthChecker
from actors.health_book import HealthBook
from actors.keypool import KeyPool
from actors.provider import ProviderActor
from actors.ratelimit_book import RateLimitBook
from actors.routing import Router
from actors.state_keeper import STATE_FILE, StateKeeper
from actors.store import ResponseStore
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
    responses: ResponseStore
    health: HealthBook = attrs.field(factory=HealthBook)  # read-only for all but the walk
    ready: trio.Event = attrs.field(factory=trio.Event)
    books: dict[str, RateLimitBook] = attrs.field(factory=dict)  # rate windows, by provider
    telemetry: Telemetry = attrs.field(factory=lambda: Telemetry(None))
    stats: LiveState | None = None  # /stats and /metrics read it

    @classmethod
    async def start(
        cls, nursery: trio.Nursery, config: Config, data_dir: Path | None = None
    ) -> ActorSystem:
        """Start every actor under `nursery`; returns once all of them are running. State goes
        to `data_dir`, or stays in memory without one."""
        store = ResponseStore.open(data_dir / RESPONSES_FILE if data_dir is not None else None)
        await nursery.start(store.run)
        settings = config.telemetry
        telemetry = Telemetry(
            data_dir / TELEMETRY_FILE if data_dir is not None else None,
            retention=settings.retention_days * DAY,
            buffer=settings.buffer,
            daily_reset=config.daily_reset_utc or time(0, 0),
            prices=partial(_cost, config),
        )
        await nursery.start(telemetry.run)  # today's sums are read back before any call
        router = Router(config)
        books = {name: RateLimitBook.for_provider(p) for name, p in config.providers.items()}
        pools = {
            name: CredentialPool(KeyPool.for_provider(provider), books[name])
            for name, provider in config.providers.items()
        }
        state_file = data_dir / STATE_FILE if data_dir is not None else None
        keys = {name: pool.pool for name, pool in pools.items()}
        keeper = StateKeeper.for_config(state_file, config, keys, books)
        await nursery.start(keeper.run)  # restores cooldowns and windows before any lease
        providers = {
            name: ProviderActor(provider, config.timeouts)
            for name, provider in config.providers.items()
        }
        for pool in pools.values():
            await nursery.start(pool.run)
        for provider in providers.values():
            await nursery.start(provider.run)
        checker = HealthChecker(config, pools)  # its book: what the walk feeds and orders by
        supervisor = Supervisor(router, pools, providers, checker.book)
        await nursery.start(supervisor.run)
        await nursery.start(checker.run)
        system = cls(config, router, supervisor, store, checker.book)
        system.books = books
        system.telemetry = telemetry
        system.stats = LiveState(router, pools, books, checker.book, telemetry, wall_time.time())
        telemetry.watch(system.stats.live, config.virtual_models)
        system.ready.set()
        return system


def _cost(config: Config, provider: str | None, model: str | None, usage: Usage) -> float | None:
    if provider is None or model is None:
        return None
    return cost_of(usage, config.price_for(provider, model))
