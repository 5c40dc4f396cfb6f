"""The simulator: an OpenAI-compatible HTTP/1.1 server whose every reply is scripted.

Each connection is a task in the listener's nursery and serves requests one after another
(keep-alive). A chat request is recorded in `calls`, handed to the script, and the chosen reply
is performed while a second task watches the socket: if the client closes before the reply is
complete (during a delay, a `Hang`, a `Stall` or a slow stream), the reply is cancelled and
counted in `disconnects`. Nothing a client does can crash the server: protocol errors get a 400
or a closed connection, an exception in the script becomes a 500 (and is kept in `errors` so a
test can fail on it). The bytes of each reply are written by `edge.simulator.perform`.
"""

from __future__ import annotations

import functools
import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import attrs
import h11
import trio

from edge.simulator import payloads, perform
from edge.simulator.embeddings import embeddings_body
from edge.simulator.replies import (
    Complete,
    Drip,
    Error,
    Garbage,
    Hang,
    Reply,
    Script,
    SimRequest,
    always,
    error_envelope,
)
from edge.simulator.wire import ClientGone, HTTPWire, RawRequest

CHAT_PATHS = frozenset({"/v1/chat/completions", "/chat/completions"})
# A native Responses upstream: its requests go to the same script, which sees `request.path`.
RESPONSES_PATHS = frozenset({"/v1/responses", "/responses"})
# A native Anthropic upstream (`kind: anthropic`): the same, for the Messages API.
MESSAGES_PATHS = frozenset({"/v1/messages", "/messages"})
MODEL_PATHS = frozenset({"/v1/models", "/models"})
EMBEDDINGS_PATHS = frozenset({"/v1/embeddings", "/embeddings"})
_ids = itertools.count(1)


@attrs.define
class Simulator:
    """A scripted upstream. Start it with `await nursery.start(sim.serve)` or `sim.serving()`."""

    script: Script = attrs.field(factory=lambda: always(Complete()))
    name: str = "sim"
    models: tuple[str, ...] = ("sim-model",)
    # Decides GET /models replies: None (or a Complete from it) serves the model list.
    probe_script: Script | None = None
    calls: list[SimRequest] = attrs.field(factory=list, init=False)
    probes: int = attrs.field(default=0, init=False)
    connections: int = attrs.field(default=0, init=False)  # TCP connections accepted
    disconnects: int = attrs.field(default=0, init=False)
    errors: list[Exception] = attrs.field(factory=list, init=False)
    _port: int | None = attrs.field(default=None, init=False)
    _created: int = attrs.field(factory=lambda: int(time.time()), init=False)
    _changed: trio.Event = attrs.field(factory=trio.Event, init=False)

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError(f"simulator {self.name!r} is not serving yet")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def calls_with_key(self, key: str) -> list[SimRequest]:
        return [call for call in self.calls if call.api_key == key]

    async def wait_for_calls(self, count: int) -> None:
        """Wait until at least `count` chat requests have arrived."""
        while len(self.calls) < count:
            await self._changed.wait()

    async def wait_for_disconnects(self, count: int) -> None:
        """Wait until at least `count` replies have been abandoned by the client."""
        while self.disconnects < count:
            await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def serve(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen on host:port (0 picks a free port), report the port, serve until cancelled."""
        listeners = await trio.open_tcp_listeners(port, host=host)
        self._port = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as nursery:
            await nursery.start(trio.serve_listeners, self._serve_connection, listeners)
            task_status.started(self._port)

    @asynccontextmanager
    async def serving(self, *, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[Simulator]:
        """`async with sim.serving():` runs the server for the body of the block."""
        async with trio.open_nursery() as nursery:
            await nursery.start(functools.partial(self.serve, host=host, port=port))
            try:
                yield self
            finally:
                nursery.cancel_scope.cancel()

    async def _serve_connection(self, stream: trio.SocketStream) -> None:
        wire = HTTPWire(stream)
        self.connections += 1
        try:
            while True:
                try:
                    raw = await wire.read_request()
                except h11.RemoteProtocolError as exc:
                    await self._bad_request(wire, exc)
                    return
                if raw is None:
                    return
                if not await self._respond(wire, raw) or not wire.start_next_cycle():
                    return
        except (ClientGone, trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        except Exception as exc:  # a bug here or in a script: keep serving, let tests see it
            self.errors.append(exc)
        finally:
            await wire.close()

    async def _bad_request(self, wire: HTTPWire, exc: h11.RemoteProtocolError) -> None:
        if wire.conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        status = exc.error_status_hint
        body = payloads.json_bytes(error_envelope(status, f"Malformed request: {exc}"))
        headers = perform.json_headers({"connection": "close"})
        try:
            await wire.send_response(status, headers, body)
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.LocalProtocolError):
            pass

    async def _respond(self, wire: HTTPWire, raw: RawRequest) -> bool:
        """Answer one request; False when the connection must not be reused."""
        path = raw.target.partition("?")[0].rstrip("/") or "/"
        request = SimRequest(raw.method, path, raw.headers, raw.body, _parse_json(raw.body))
        if raw.method == "POST" and (
            path in CHAT_PATHS
            or path in RESPONSES_PATHS
            or path in MESSAGES_PATHS
            or path in EMBEDDINGS_PATHS
        ):
            self.calls.append(request)
            self._notify()
            reply = self._decide(self.script, request)
            action = functools.partial(self._perform, wire, request, reply)
        elif raw.method == "GET" and path in MODEL_PATHS:
            self.probes += 1
            reply = (
                Complete()
                if self.probe_script is None
                else self._decide(self.probe_script, request)
            )
            action = functools.partial(self._perform, wire, request, reply, models=True)
        else:
            message = f"Invalid URL ({raw.method} {path})"
            envelope = error_envelope(404, message)
            envelope["error"]["code"] = None  # as OpenAI answers an unknown route
            body = payloads.json_bytes(envelope)
            await wire.send_response(404, perform.json_headers(), body)
            return True
        return await self._watched(wire, reply.delay, action)

    def _decide(self, script: Script, request: SimRequest) -> Reply:
        try:
            return script(request)
        except Exception as exc:
            self.errors.append(exc)
            return Error(500, body=error_envelope(500, f"simulator script raised {exc!r}"))

    async def _watched(
        self, wire: HTTPWire, delay: float, action: Callable[[], Awaitable[bool]]
    ) -> bool:
        """Run `action` after `delay` while watching for the client leaving."""
        abandoned = False
        keep = False
        async with trio.open_nursery() as nursery:

            async def watch() -> None:
                nonlocal abandoned
                try:
                    await wire.wait_for_eof()
                except trio.ClosedResourceError:
                    return  # we closed the socket ourselves (Cut)
                if not wire.reply_done:
                    abandoned = True
                    nursery.cancel_scope.cancel()

            nursery.start_soon(watch)
            try:
                await trio.sleep(delay)
                keep = await action()
            except trio.BrokenResourceError:
                abandoned = True  # the client reset the connection under a send
            nursery.cancel_scope.cancel()
        if abandoned:
            self.disconnects += 1
            self._notify()
            return False
        return keep

    async def _perform(
        self, wire: HTTPWire, request: SimRequest, reply: Reply, *, models: bool = False
    ) -> bool:
        """Send `reply`; False when the connection must not be reused."""
        if isinstance(reply, Complete) and models:
            body = payloads.models_body(self.models, self.name, self._created)
            return await perform.send_json(wire, 200, body, reply.headers)
        if isinstance(reply, Complete) and request.path in EMBEDDINGS_PATHS:
            model = reply.model or request.model or self.models[0]
            body = embeddings_body(request, model)
            return await perform.send_json(wire, 200, body, reply.headers)
        if isinstance(reply, Complete):
            return await perform.send_complete(wire, request, reply, self._envelope(reply, request))
        if isinstance(reply, Error):
            return await perform.send_error(wire, reply)
        if isinstance(reply, Garbage):
            return await perform.send_garbage(wire, request, reply)
        if isinstance(reply, Hang):
            await trio.sleep_forever()
        if isinstance(reply, Drip):
            await perform.send_drip(wire, reply)
            return False
        envelope = self._envelope(reply.reply, request)
        return await perform.send_partial(wire, request, reply, envelope)

    def _envelope(self, reply: Complete, request: SimRequest) -> payloads.Envelope:
        model = reply.model or request.model or self.models[0]
        return payloads.Envelope(f"chatcmpl-sim{next(_ids):06d}", int(time.time()), model)


def _parse_json(body: bytes) -> Any | None:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None
