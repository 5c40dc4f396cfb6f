"""`baton serve --log-requests DIR`: each call's exchange, written to a folder of its own.

`DIR/<YYYY-MM-DD>/<request id>/` (UTC date; `-2`, `-3`... when a client reuses an id) holds
`request.json` (method, target, headers, body), `attempts.json` (each hop of the walk down the
chain: provider, model, key alias, mark, failure, latency, message), and either `reply.json`
(status, headers, body) or `stream.sse` (every chunk sent to the client, in order, written
when the stream ends). Credential headers become `***`, and every file passes through the
same scrubbing as log lines (`edge.logs.redact`) before it is written.

The event loop never touches the disk: a `CallTrail` hands raw values to a bounded queue, and
one writer task serializes, scrubs and writes them in a worker thread. When the writer falls
behind, files are dropped and counted (with one warning), never waited for. With the flag off
nothing here runs: routes get no trail, streams no tee.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import attrs
import trio
from loguru import logger

from actors.messages import Hop
from edge import logs
from edge.incoming import Incoming
from edge.replies import Answer, Chunks, Reply, StreamReply
from protocols.redact import redact_headers

QUEUE_SIZE = 1024  # files waiting to be written; past that they are dropped
_ACTIVE: ContextVar[RequestLog | None] = ContextVar("baton_request_log", default=None)


def active() -> RequestLog | None:
    """The request log the server started in this context should record to, if any."""
    return _ACTIVE.get()


@asynccontextmanager
async def recording(root: Path | None) -> AsyncIterator[RequestLog | None]:
    """Record every call served inside this block to `root` (None: record nothing). On the
    way out, what is queued is written before the block ends."""
    if root is None:
        yield None
        return
    log = RequestLog(root)
    token = _ACTIVE.set(log)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(log.run)
            try:
                yield log
            finally:
                log.close()
    finally:
        _ACTIVE.reset(token)


@attrs.define(eq=False)
class CallTrail:
    """What one call leaves in its folder; the folder is made by the writer on first write."""

    log: RequestLog
    day: str
    name: str
    folder: Path | None = None  # set by the writer thread, used only there

    def attempts(self, hops: Iterable[Hop]) -> None:
        self.log.submit(self, "attempts.json", [attrs.asdict(hop) for hop in hops])

    def reply(self, answer: Answer) -> Answer:
        """Record `answer` (a stream: as it is sent) and give it back to be sent."""
        if isinstance(answer, Reply):
            document = {
                "status": answer.status,
                "headers": dict(answer.headers),
                "body": answer.body,
            }
            self.log.submit(self, "reply.json", document)
            return answer
        return StreamReply(answer.status, answer.headers, TeeChunks(answer.chunks, self))

    def stream(self, data: bytes) -> None:
        self.log.submit(self, "stream.sse", data)


class TeeChunks:
    """A stream body that passes every chunk on and keeps a copy for `stream.sse`. It keeps
    its body's `farewell` (what ends the stream when the server stops) only if it has one,
    since the server tells the two kinds apart by it."""

    def __init__(self, chunks: Chunks, trail: CallTrail) -> None:
        self._chunks = chunks
        self._pieces = chunks.__aiter__()
        self._trail = trail
        self._sent: list[bytes] = []
        self._recorded = False
        if hasattr(chunks, "farewell"):
            self.farewell = self._farewell

    def __aiter__(self) -> TeeChunks:
        return self

    async def __anext__(self) -> bytes:
        piece = await self._pieces.__anext__()
        self._sent.append(piece)
        return piece

    def _farewell(self) -> bytes:
        data: bytes = self._chunks.farewell()  # type: ignore[attr-defined]
        self._sent.append(data)
        return data

    async def aclose(self) -> None:
        try:
            await self._chunks.aclose()
        finally:
            if not self._recorded:
                self._recorded = True
                self._trail.stream(b"".join(self._sent))


@attrs.frozen
class _Job:
    trail: CallTrail
    file: str
    content: Any = attrs.field(repr=False)


class RequestLog:
    def __init__(self, root: Path, queue_size: int = QUEUE_SIZE) -> None:
        self.root = root
        self._send, self._receive = trio.open_memory_channel[_Job](queue_size)
        self.dropped = 0  # files the queue had no room for (counted in the event loop)
        self.written = 0  # files written, and files that failed to (counted in the writer)
        self.failed = 0

    def begin(self, request: Incoming) -> CallTrail:
        """A trail for `request`, its `request.json` already queued."""
        trail = CallTrail(self, time.strftime("%Y-%m-%d", time.gmtime()), _folder_name(request))
        document = {
            "request_id": request.request_id,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "method": request.method,
            "path": request.path,
            "target": request.target or request.path,  # with the query, as sent (scrubbed)
            "headers": dict(request.headers),
            "body": request.body,
        }
        self.submit(trail, "request.json", document)
        return trail

    def submit(self, trail: CallTrail, file: str, content: Any) -> None:
        try:
            self._send.send_nowait(_Job(trail, file, content))
        except trio.WouldBlock:
            self.dropped += 1
            if self.dropped == 1:
                logger.warning(
                    "request log: the disk is not keeping up; dropping files (counted, this "
                    "warning once)"
                )
        except trio.ClosedResourceError:
            self.dropped += 1  # the server is stopping: the writer has gone

    def close(self) -> None:
        self._send.close()

    async def run(self) -> None:
        """Write what is queued, a batch per worker-thread call, until closed and drained."""
        async with self._receive:
            async for job in self._receive:
                batch = [job]
                while len(batch) < 64:
                    try:
                        batch.append(self._receive.receive_nowait())
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                await trio.to_thread.run_sync(self._write_all, batch)

    def _write_all(self, batch: list[_Job]) -> None:
        for job in batch:
            try:
                _write(self.root, job)
                self.written += 1
            except OSError as exc:
                self.failed += 1
                logger.warning("request log: cannot write {}: {}", job.file, exc)


# -- in the writer thread ------------------------------------------------------------------------


def _write(root: Path, job: _Job) -> None:
    trail = job.trail
    if trail.folder is None:
        trail.folder = _claim(root / trail.day, trail.name)
    if isinstance(job.content, bytes):  # a stream, as sent
        text = job.content.decode("utf-8", "surrogateescape")
        data = logs.redact(text).encode("utf-8", "surrogateescape")
    else:
        text = json.dumps(_document(job.content), indent=2, ensure_ascii=False, default=str)
        data = logs.redact(text).encode("utf-8", "replace")
    (trail.folder / job.file).write_bytes(data)


def _claim(day: Path, name: str) -> Path:
    """A fresh folder for one call: `name`, else `name-2`, `name-3`... (a reused id)."""
    day.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 1000):
        folder = day / (name if attempt == 1 else f"{name}-{attempt}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise FileExistsError(f"too many calls named {name}")


def _document(content: Any) -> Any:
    """A request or reply made JSON-ready: headers without credentials, a body as JSON
    when it is JSON, else as text."""
    if not isinstance(content, Mapping):
        return content
    document = dict(content)
    if isinstance(document.get("headers"), Mapping):
        document["headers"] = redact_headers(document["headers"])
    if isinstance(document.get("body"), bytes):
        document["body"] = _body(document["body"])
    return document


def _body(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return body.decode("utf-8", "replace")


def _folder_name(request: Incoming) -> str:
    """The request id (already a safe token); never `.` or `..`, never a hidden folder."""
    name = request.request_id
    return f"_{name}" if name.startswith(".") else name
