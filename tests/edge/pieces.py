"""A stream body under a test's control, for tests of what relays or records streams."""

from __future__ import annotations

from collections import deque

import trio


class Pieces:
    """A StreamReply's chunks under the test's control.

    Each item is given in turn: bytes are yielded, an Event is waited for, an exception is
    raised, None waits for ever. `closed` is set by `aclose()`; `cancelled` says a wait was
    cancelled."""

    def __init__(self, *items: bytes | trio.Event | Exception | None) -> None:
        self.items: deque[bytes | trio.Event | Exception | None] = deque(items)
        self.closed = trio.Event()
        self.close_calls = 0
        self.cancelled = False
        self.yielded = 0

    def __aiter__(self) -> Pieces:
        return self

    async def __anext__(self) -> bytes:
        try:
            while self.items:
                item = self.items.popleft()
                if isinstance(item, bytes):
                    self.yielded += 1
                    return item
                if isinstance(item, Exception):
                    raise item
                if item is None:
                    await trio.sleep_forever()
                else:
                    await item.wait()
        except trio.Cancelled:
            self.cancelled = True
            raise
        raise StopAsyncIteration

    async def aclose(self) -> None:
        self.close_calls += 1
        self.closed.set()
