"""The dashboard's blueprint on a Quart-Trio app of its own, served by Hypercorn, without the
rest of the gateway, for tests that feed the page a snapshot of their own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio
from quart_trio import QuartTrio

from edge.app import install_error_envelopes
from edge.dashboard import Snapshot, dashboard_blueprint
from tests.served_app import Served, serving

CLIENT_KEY = "dashboard-key-for-tests"


@asynccontextmanager
async def dashboard_server(
    snapshot: Snapshot, client_keys: tuple[str, ...] = (CLIENT_KEY,), **options: Any
) -> AsyncIterator[Served]:
    """A server answering `/dashboard` and `/dashboard/live`; `options` go to the routes."""
    app = QuartTrio("dashboard-test")
    keys = tuple(key.encode() for key in client_keys)
    app.register_blueprint(dashboard_blueprint(snapshot, keys, trio.Event(), **options))
    install_error_envelopes(app)
    async with serving(app) as served:
        yield served
