"""Starts the actor system for one configuration and hands the edge what it needs."""

from __future__ import annotations

from pathlib import Path

import attrs
import trio

from actors.credentials import CredentialPool
from actors.keypool import KeyPool
from actors.provider import ProviderActor
from actors.routing import Router
from actors.store import ResponseStore
from actors.supervisor import Supervisor
from config.model import Config

RESPONSES_FILE = "responses.sqlite3"


@attrs.define
class ActorSystem:
    config: Config
    router: Router
    supervisor: Supervisor
    responses: ResponseStore
    ready: trio.Event = attrs.field(factory=trio.Event)

    @classmethod
    async def start(
        cls, nursery: trio.Nursery, config: Config, data_dir: Path | None = None
    ) -> ActorSystem:
        """Start every actor under `nursery`; returns once all of them are running. State goes
        to `data_dir`, or stays in memory without one."""
        store = ResponseStore.open(data_dir / RESPONSES_FILE if data_dir is not None else None)
        await nursery.start(store.run)
        router = Router(config)
        pools = {
            name: CredentialPool(
                KeyPool(provider.keys, provider.rotation, provider.max_concurrent_per_key)
            )
            for name, provider in config.providers.items()
        }
        providers = {
            name: ProviderActor(provider, config.timeouts)
            for name, provider in config.providers.items()
        }
        for pool in pools.values():
            await nursery.start(pool.run)
        for provider in providers.values():
            await nursery.start(provider.run)
        supervisor = Supervisor(router, pools, providers)
        await nursery.start(supervisor.run)
        system = cls(config, router, supervisor, store)
        system.ready.set()
        return system
