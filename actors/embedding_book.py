"""Which embedding requests wait together for one upstream call: the batcher's bookkeeping.

Requests that may share a call (`EmbeddingsRequest.batch_key`: one model, one encoding, one
size of vector) join an open batch; the first to join opens it and starts its window. A batch
goes out when its window ends or when one more request would take it past `max_inputs`
inputs (then it goes at once, and the newcomer opens the next one). A request that alone has
`max_inputs` or more inputs never waits: it is a batch of its own, sent at once. The book is
plain and synchronous, driven by an explicit `now`; the actor around it does the waiting.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

import attrs

M = TypeVar("M")  # what the book holds for each request (the actor's message)


@attrs.define
class Batch(Generic[M]):
    key: Hashable
    due: float  # when its window ends
    members: list[M] = attrs.field(factory=list)
    inputs: int = 0


@attrs.define
class BatchBook(Generic[M]):
    window: float  # seconds a batch waits for company
    max_inputs: int  # inputs one upstream call may carry
    _open: dict[Hashable, Batch[M]] = attrs.field(factory=dict)

    def add(self, key: Hashable, member: M, inputs: int, now: float) -> list[Batch[M]]:
        """Take `member` (with `inputs` inputs); the batches to send now because of it."""
        if inputs >= self.max_inputs or self.window <= 0:
            return [Batch(key, now, [member], inputs)]
        ready: list[Batch[M]] = []
        batch = self._open.get(key)
        if batch is not None and batch.inputs + inputs > self.max_inputs:
            ready.append(self._open.pop(key))
            batch = None
        if batch is None:
            batch = self._open[key] = Batch(key, now + self.window)
        batch.members.append(member)
        batch.inputs += inputs
        if batch.inputs >= self.max_inputs:
            ready.append(self._open.pop(key))
        return ready

    def due(self, now: float) -> list[Batch[M]]:
        """The batches whose window has ended by `now`, taken out of the book."""
        ready = [batch for batch in self._open.values() if batch.due <= now]
        for batch in ready:
            del self._open[batch.key]
        return ready

    def next_due(self) -> float | None:
        return min((batch.due for batch in self._open.values()), default=None)

    def drain(self) -> list[Batch[M]]:
        """Every open batch (the actor is stopping: they go out now)."""
        ready, self._open = list(self._open.values()), {}
        return ready
