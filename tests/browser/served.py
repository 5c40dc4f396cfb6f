"""The dashboard's two routes on a real `edge.wire` server, without the rest of the gateway,
for tests that feed the page a snapshot of their own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from edge.dashboard import Snapshot, dashboard_routes
from edge.replies import error_response
from edge.wire import Reply, Request, StreamReply, TakeOver
from protocols.errors import BatonError, MethodNotAllowed, NotFound
from tests.edge.wire_harness import Served, serving

CLIENT_KEY = "dashboard-key-for-tests"


@asynccontextmanager
async def dashboard_server(
    snapshot: Snapshot, client_keys: tuple[str, ...] = (CLIENT_KEY,), **options: Any
) -> AsyncIterator[Served]:
    """serve_http answering `/dashboard` and `/dashboard/live`; `options` go to the routes."""
    routes = dashboard_routes(snapshot, tuple(key.encode() for key in client_keys), **options)

    async def handle(request: Request) -> Reply | StreamReply | TakeOver:
        try:
            methods = routes.get(request.path)
            if methods is None:
                raise NotFound(f"no route {request.path}")
            route = methods.get(request.method)
            if route is None:
                raise MethodNotAllowed(f"{request.method} is not allowed on {request.path}")
            return await route(request)
        except BatonError as error:
            return error_response(error)

    async with serving(handle) as served:
        yield served
