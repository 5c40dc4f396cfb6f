"""The embedding batcher: an actor in front of the supervisor that gathers small concurrent
embedding requests for one model into one upstream call, as the original proxy did.

A caller sends `Embed` (its request, deadline and reply channel) and waits for its own
`Completed` or `Failed`. The batcher's bookkeeping (`actors.embedding_book`) says which
requests wait together and for how long (`embeddings.batch_window`, at most
`embeddings.max_batch_inputs` inputs). A batch of one is walked as it came. A batch of more
is combined (`protocols.embeddings.combine`) into one `Call`: it walks the chain once, with
the same failover as any call, so a failure of the batch fails every caller over together;
its reply is split back (`split`), each caller getting its own vectors indexed from 0 and its
share of the usage, and each caller's trail holds the batch's hops. When the batch is refused
as a caller's fault (one caller's input too long, say), each request is walked again on its
own, so only the culprit gets the error.

A caller that leaves does not stop its batch (the others still want it); its answer is
dropped. Flushes run in the actor's own nursery; one that raises answers its callers with a
500 and is logged, and the actor carries on.
"""

from __future__ import annotations

import math

import attrs
import trio
from loguru import logger

from actors.embedding_book import Batch, BatchBook
from actors.messages import Completed, Failed, Hop, Provenance, Streaming
from actors.supervision import tell
from actors.supervisor import Supervisor
from protocols import jsoncodec
from protocols.embeddings import EmbeddingsRequest, combine, split
from protocols.errors import CallerError, GatewayOverloaded, InternalError, UpstreamFailed
from protocols.usage import Usage

INBOX_SIZE = 1024
Answer = Completed | Failed


@attrs.frozen
class Embed:
    request: EmbeddingsRequest
    deadline: float
    reply: trio.MemorySendChannel[Answer] = attrs.field(repr=False)
    hops: list[Hop] | None = attrs.field(default=None, repr=False)  # the caller's trail


@attrs.define
class EmbeddingBatcher:
    supervisor: Supervisor
    window: float
    max_inputs: int
    batches: int = 0  # upstream calls made for more than one request
    batched: int = 0  # requests that went in those
    _book: BatchBook[Embed] = attrs.field(init=False)
    _send: trio.MemorySendChannel[Embed] = attrs.field(init=False, repr=False)
    _inbox: trio.MemoryReceiveChannel[Embed] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self._book = BatchBook(self.window, self.max_inputs)
        self._send, self._inbox = trio.open_memory_channel[Embed](INBOX_SIZE)

    # -- the requester's side -------------------------------------------------------------

    async def embed(
        self, request: EmbeddingsRequest, deadline: float, hops: list[Hop] | None = None
    ) -> Answer:
        """Submit `request` and wait for its answer."""
        send, receive = trio.open_memory_channel[Answer](1)
        if not tell(self._send, Embed(request, deadline, send, hops)):
            overloaded = GatewayOverloaded("the gateway is overloaded: retry shortly")
            return Failed(overloaded, Provenance(None, None, 0))
        with receive:
            try:
                return await receive.receive()
            except trio.EndOfChannel:  # the batcher crashed with the request in hand
                return Failed(InternalError("the embedding batcher failed"), _NOWHERE)

    # -- the actor ------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as flushes:
            task_status.started()
            try:
                while True:
                    due = self._book.next_due()
                    with trio.move_on_at(math.inf if due is None else due):
                        message = await self._inbox.receive()
                        now = trio.current_time()
                        inputs = len(message.request.inputs)
                        key = message.request.batch_key
                        for batch in self._book.add(key, message, inputs, now):
                            flushes.start_soon(self._flush, batch)
                        del message
                    for batch in self._book.due(trio.current_time()):
                        flushes.start_soon(self._flush, batch)
            finally:
                for batch in self._book.drain():  # restarted or stopping: nobody waits
                    _answer_all(batch.members, Failed(InternalError("stopped"), _NOWHERE))

    async def _flush(self, batch: Batch[Embed]) -> None:
        try:
            await self._walk(batch.members)
        except Exception:
            logger.exception("an embedding batch of {} raised", len(batch.members))
            _answer_all(batch.members, Failed(InternalError("internal gateway error"), _NOWHERE))

    async def _walk(self, members: list[Embed]) -> None:
        if len(members) == 1:
            [member] = members
            outcome = await self.supervisor.call(member.request, member.deadline, hops=member.hops)
            assert not isinstance(outcome, Streaming)
            _answer(member, outcome)
            return
        self.batches += 1
        self.batched += len(members)
        requests = [member.request for member in members]
        hops: list[Hop] = []
        deadline = min(member.deadline for member in members)
        outcome = await self.supervisor.call(combine(requests), deadline, hops=hops)
        assert not isinstance(outcome, Streaming)
        for member in members:
            if member.hops is not None:
                member.hops.extend(hops)
        if isinstance(outcome, Failed):
            if isinstance(outcome.error, CallerError):  # whose fault? ask each on its own
                async with trio.open_nursery() as alone:
                    for member in members:
                        alone.start_soon(self._walk, [member])
                return
            _answer_all(members, outcome)
            return
        try:
            parts = split(jsoncodec.loads(outcome.body), requests)
        except (ValueError, TypeError, AttributeError, RecursionError) as exc:
            error = UpstreamFailed(f"upstream {outcome.provenance.provider}: {exc}")
            _answer_all(members, Failed(error, outcome.provenance))
            return
        for member, part in zip(members, parts, strict=True):
            usage = Usage.from_chat(part.get("usage"))
            _answer(member, Completed(outcome.provenance, jsoncodec.dumps(part), usage=usage))


_NOWHERE = Provenance(None, None, 0)


def _answer(member: Embed, outcome: Answer) -> None:
    with member.reply:
        tell(member.reply, outcome)  # a caller that left gets nothing


def _answer_all(members: list[Embed], outcome: Answer) -> None:
    for member in members:
        _answer(member, outcome)
