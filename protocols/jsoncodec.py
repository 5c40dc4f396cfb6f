"""The one place JSON is encoded and decoded: orjson, with the standard library as the
fallback for what orjson will not encode.

orjson is several times faster than `json` on both sides and writes exactly what baton wrote
before: compact separators, UTF-8 (not `\\u` escapes). Where the two differ:
- decoding is strict: `NaN`/`Infinity` and numbers out of a double's range are refused (a
  `ValueError`, like any malformed JSON), as are invalid UTF-8 and nesting past 1024 levels;
- an integer beyond 64 bits decodes as a float (OpenAI's schemas have no such integers);
- encoding a value orjson refuses (an integer beyond 64 bits) falls back to `json`.

orjson's output keeps the buffer it was written into: a 60-byte result holds 4 KiB, a 1 KB one
8 KiB, for as long as the bytes live. Most of what baton encodes is small and some of it lives
as long as a call (an upstream request body held for failover, for each of 10,000 idle
streams), so a small result is copied into bytes of its own size (`_right_sized`): a copy of
under 8 KiB costs far less than the memory it gives back.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))

JSONDecodeError = orjson.JSONDecodeError  # a subclass of json.JSONDecodeError and ValueError


SMALL = 8192  # bytes: orjson's results under this are copied to their own size


def _right_sized(encoded: bytes) -> bytes:
    return bytes(memoryview(encoded)) if len(encoded) < SMALL else encoded


def dumps(value: Any) -> bytes:
    try:
        return _right_sized(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))
    except TypeError:
        return _encoder.encode(value).encode()


def dumps_sorted(value: Any) -> bytes:
    """`dumps` with object keys sorted: equal values give equal bytes (a key to group by)."""
    try:
        encoded = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SORT_KEYS)
    except TypeError:
        return json.dumps(value, sort_keys=True, default=str).encode()
    return _right_sized(encoded)


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    return orjson.loads(data)
