"""Client authentication: a bearer token or `x-api-key`, compared in constant time."""

from __future__ import annotations

import hmac
from typing import Protocol

from protocols.errors import Unauthorized


class Headers(Protocol):
    """What a key is read from: a plain dict, or Quart's headers (case-insensitive)."""

    def get(self, key: str) -> str | None: ...


def presented_key(headers: Headers) -> str | None:
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    api_key = headers.get("x-api-key")
    return api_key.strip() if api_key and api_key.strip() else None


def check_client(headers: Headers, allowed: tuple[bytes, ...]) -> str | None:
    """The id of the client key the request carries (`client#N`: its place in `allowed`);
    `Unauthorized` unless it carries one. None on an open gateway (`allowed` empty)."""
    if not allowed:
        return None
    key = presented_key(headers)
    if key is None:
        raise Unauthorized("Missing API key: send 'Authorization: Bearer <key>' or 'x-api-key'")
    matched = matching_key(key.encode(), allowed)
    if not matched:
        raise Unauthorized("Incorrect API key provided")
    return f"client#{matched}"


def matching_key(presented: bytes, allowed: tuple[bytes, ...]) -> int:
    """Which of `allowed` (counting from 1) `presented` is; 0 for none. Every key is compared,
    so the time taken says nothing of which one matched."""
    matched = 0
    for number, candidate in enumerate(allowed, 1):
        if hmac.compare_digest(presented, candidate):
            matched = number
    return matched
