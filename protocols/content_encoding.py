"""Upstream bodies sent compressed, decoded in bounded pieces.

baton asks every upstream for `identity` bodies (`accept-encoding: identity`), yet an upstream
(or a proxy in front of it) may compress anyway. httpx2 decodes such a body one network read
at a time, whole: 64 KiB of gzip can become 64 MiB in one piece, and a small gzip bomb takes
gigabytes before any cap on the decoded size is looked at. So baton reads the raw body and
decodes it here, with zlib's `max_length`: at most `PIECE` bytes come out per step, so memory
stays bounded whatever the ratio, and the caller's caps (a whole reply, one stream event) see
the decoded bytes as they grow.

`gzip`, `x-gzip` and `deflate` (zlib-wrapped, as HTTP means it) are decoded; `identity` passes
through. Any other coding, several codings stacked, or bytes that do not decode raise
`EncodingError` (a `ValueError`): the body is malformed.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

PIECE = 64 * 1024  # the most one decoding step produces
_ZLIB_CODINGS = frozenset({"gzip", "x-gzip", "deflate"})


class EncodingError(ValueError):
    """A content-encoding baton cannot decode, or bytes that do not decode."""


class BodyDecoder:
    """Decodes one body sent with `content_encoding` (the header's value, "" for none)."""

    def __init__(self, content_encoding: str) -> None:
        codings = [c.strip().lower() for c in content_encoding.split(",")]
        codings = [c for c in codings if c and c != "identity"]
        if len(codings) > 1 or (codings and codings[0] not in _ZLIB_CODINGS):
            raise EncodingError(
                f"upstream sent a body in content-encoding {content_encoding!r},"
                " which baton did not ask for and does not decode"
            )
        # wbits 32 + 15: a gzip or a zlib header, told apart by the header itself
        self._zlib = zlib.decompressobj(32 + zlib.MAX_WBITS) if codings else None

    @property
    def identity(self) -> bool:
        return self._zlib is None

    def decode(self, data: bytes) -> Iterator[bytes]:
        """The decoded bytes of the next raw `data`, in pieces of at most `PIECE` bytes."""
        inflater = self._zlib
        if inflater is None:
            if data:
                yield data
            return
        while not inflater.eof:
            try:
                piece = inflater.decompress(data, PIECE)
            except zlib.error as exc:
                message = f"upstream sent a compressed body that does not decode: {exc}"
                raise EncodingError(message) from exc
            data = inflater.unconsumed_tail
            if piece:
                yield piece
            if not data and len(piece) < PIECE:
                return  # all input taken and nothing more pending inside zlib
