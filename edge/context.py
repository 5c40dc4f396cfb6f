"""What every route of the edge shares: the actor system, the stop, the client keys, the
request log, and the one way a call route turns its answer into a Quart response.

A call route (`POST` Chat Completions, Responses) reads its request whole, checks its client
key, is recorded by the request log when `--log-requests` is on (a trail per call, refused
calls included; without the flag nothing of this costs anything), and answers with a
`BatonError`'s envelope whatever it raises of them, so the request log records error
replies too. While it waits for its answer it is watched by the
stop (`edge.stopping`): a call still waiting when the grace period ends is answered 503.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import attrs
from quart import Response, g, request

from actors.system import ActorSystem
from edge.auth import check_client
from edge.incoming import Incoming
from edge.replies import Answer, Reply, error_response, respond
from edge.request_log import CallTrail, RequestLog
from edge.stopping import Stopping
from protocols.errors import BatonError, NoCandidate

CallHandler = Callable[[Incoming, CallTrail | None], Awaitable[Answer]]
# How a route's protocol answers an error: OpenAI's envelope, or Anthropic's (edge.messages_errors)
ErrorRenderer = Callable[[BatonError], Reply]


def shutting_down(render: ErrorRenderer = error_response) -> Answer:
    return render(
        NoCandidate("the gateway is shutting down: retry the request", code="shutting_down")
    )


@attrs.define
class EdgeContext:
    system: ActorSystem
    stopping: Stopping
    client_keys: tuple[bytes, ...]
    recorder: RequestLog | None = None
    started: int = attrs.field(factory=lambda: int(time.time()))

    async def incoming(self) -> Incoming:
        """The request being served, read whole, with the client `edge.auth` found."""
        return await Incoming.read(request, g.get("client"))

    async def serve_call(
        self, handler: CallHandler, render: ErrorRenderer = error_response
    ) -> Response:
        """Serve a call route: its client key is checked here rather than before the route,
        so a refused call is recorded like any other. `render`: the route's error envelope."""
        incoming = await Incoming.read(request)
        trail = self.recorder.begin(incoming) if self.recorder is not None else None
        answer: Answer | None = None
        with self.stopping.watch():
            try:
                incoming.client = check_client(incoming.headers, self.client_keys)
                answer = await handler(incoming, trail)
            except BatonError as error:
                answer = render(error)
        if answer is None:  # still waiting when the grace period ran out
            answer = shutting_down(render)
        if trail is not None:
            answer = trail.reply(answer)
        return respond(answer, self.stopping)
