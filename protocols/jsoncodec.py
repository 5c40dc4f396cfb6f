"""The one place JSON is encoded and decoded, so the codec can be swapped for a faster one."""

from __future__ import annotations

import json
from typing import Any

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_decoder = json.JSONDecoder()

JSONDecodeError = json.JSONDecodeError


def dumps(value: Any) -> bytes:
    return _encoder.encode(value).encode()


def loads(data: bytes | str) -> Any:
    if isinstance(data, bytes | bytearray):
        data = data.decode()  # strict: invalid UTF-8 raises UnicodeDecodeError (a ValueError)
    return _decoder.decode(data)
