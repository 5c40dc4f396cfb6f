"""Client authentication: a bearer token or `x-api-key`, compared in constant time."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from protocols.errors import Unauthorized


def presented_key(headers: Mapping[str, str]) -> str | None:
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    api_key = headers.get("x-api-key")
    return api_key.strip() if api_key and api_key.strip() else None


def check_client(headers: Mapping[str, str], allowed: tuple[bytes, ...]) -> None:
    """Raise `Unauthorized` unless the request carries one of `allowed` (open when empty)."""
    if not allowed:
        return
    key = presented_key(headers)
    if key is None:
        raise Unauthorized("Missing API key: send 'Authorization: Bearer <key>' or 'x-api-key'")
    presented = key.encode()
    matched = False
    for candidate in allowed:  # compare against every key: the time says nothing of which
        matched |= hmac.compare_digest(presented, candidate)
    if not matched:
        raise Unauthorized("Incorrect API key provided")
