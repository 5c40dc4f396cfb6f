"""Request ids: what names one request in every log line, request log and reply.

A client's own `x-request-id` is kept when it is a sane token (1-128 characters of
`[A-Za-z0-9._:-]`), so a client can follow its call through baton's logs; anything else
(missing, too long, spaces, slashes, control characters) gets a fresh `req_` + 24 hex digits.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping

HEADER = "x-request-id"
_VALID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def fresh_request_id() -> str:
    """`req_` and 96 random bits in hex: unique enough to name a call, not a secret."""
    return f"req_{random.getrandbits(96):024x}"


def valid_request_id(text: str) -> bool:
    return _VALID.fullmatch(text) is not None


def request_id_for(headers: Mapping[str, str]) -> str:
    """The client's `x-request-id` when it is valid, else a fresh id."""
    given = headers.get(HEADER)
    if given is not None and _VALID.fullmatch(given) is not None:
        return given
    return fresh_request_id()
