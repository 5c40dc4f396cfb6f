"""How a stopping gateway treats the work in flight, in each protocol's own terms.

Hypercorn owns the connections: when baton's shutdown trigger returns it stops accepting,
closes idle keep-alive connections at once, and cancels whatever is left after its own
`graceful_timeout`. baton sets that a little past `server.shutdown_grace` and keeps the
protocol-level promise itself, here:

1. `closing` is set when the stop begins: idle WebSockets (Responses, dashboard) close with
   1001 at once, a WebSocket turn in progress finishes first, then its socket closes.
2. Calls and streams in flight get `grace` seconds to finish.
3. Then `interrupt()` cancels every scope registered with `watch`: a call still waiting for
   its answer is answered 503 `shutting_down`, a stream still running ends with its
   protocol's own error event (a Chat `data: {"error": ...}`, a Responses `response.failed`),
   never a silent cut. Hypercorn's own deadline (`grace + FAREWELL`) then ends the rest.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import trio

FAREWELL = 2.0  # after the grace: time for farewells to be written before Hypercorn cuts


class Stopping:
    """The gateway's stop, as the routes see it."""

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self.closing = trio.Event()
        self.interrupted = False
        self._watched: set[trio.CancelScope] = set()

    @contextmanager
    def watch(self) -> Iterator[trio.CancelScope]:
        """A cancel scope the end of the grace period cancels. Check `cancelled_caught` after
        the block: True means the gateway interrupted it."""
        with trio.CancelScope() as scope:
            if self.interrupted:
                scope.cancel()
            self._watched.add(scope)
            try:
                yield scope
            finally:
                self._watched.discard(scope)

    def interrupt(self) -> None:
        self.interrupted = True
        for scope in list(self._watched):
            scope.cancel()

    async def run_stop(self) -> None:
        """The stop sequence, from the moment the trigger fired: close, wait, interrupt."""
        self.closing.set()
        await trio.sleep(self.grace)
        self.interrupt()
