"""What an image part costs in input tokens, by OpenAI's tile rule.

OpenAI's published rule for its vision chat models (gpt-4o, gpt-4.1, gpt-4-turbo):
- `detail: "low"`: 85 tokens, whatever the size;
- otherwise the image is fitted inside 2048x2048, then shrunk so its shorter side is at most
  768 px, and costs 85 + 170 per 512 px tile it covers (a 1024x1024 image: 4 tiles, 765).
`detail: "auto"` (the default) lets the upstream choose; it is counted as `high`, the upper
bound. Other models price images their own way (gpt-4o-mini multiplies, others use patches);
the same rule is used for all of them, and the count is then approximate.

The size comes from the image itself when the part carries it as a `data:` URL (PNG, GIF, JPEG
and WebP headers are read; nothing else is decoded). An image given by `https:` URL is never
fetched: it is counted as a 1024x1024 image, 765 tokens at high detail.
"""

from __future__ import annotations

import base64
import binascii
import math
import struct

LOW_DETAIL_TOKENS = 85
_BASE, _PER_TILE, _TILE = 85, 170, 512
UNKNOWN_SIZE = (1024, 1024)


def image_tokens(url: str, detail: str | None = None) -> int:
    if detail == "low":
        return LOW_DETAIL_TOKENS
    width, height = image_size(url) or UNKNOWN_SIZE
    return tile_tokens(width, height)


def tile_tokens(width: int, height: int) -> int:
    """Tokens of a `width` x `height` image at high detail."""
    if width <= 0 or height <= 0:
        return _BASE
    w, h = float(width), float(height)
    if max(w, h) > 2048:
        w, h = w * 2048 / max(w, h), h * 2048 / max(w, h)
    if min(w, h) > 768:
        w, h = w * 768 / min(w, h), h * 768 / min(w, h)
    tiles = math.ceil(w / _TILE) * math.ceil(h / _TILE)
    return _BASE + _PER_TILE * tiles


def image_size(url: str) -> tuple[int, int] | None:
    """Width and height of a base64 `data:` image URL, or None if unknown."""
    if not url.startswith("data:"):
        return None
    header, _, payload = url.partition(",")
    if not header.endswith(";base64"):
        return None
    try:
        data = base64.b64decode(payload[:_HEAD_CHARS])
    except (binascii.Error, ValueError):
        return None
    return _sniff(data)


# Enough of the file for every header read below, in whole base64 quanta. JPEG keeps its size in
# a frame header that may follow up to 64 KiB of metadata segments, hence the margin.
_HEAD_CHARS = 4 * ((96 * 1024) // 3)


def _sniff(data: bytes) -> tuple[int, int] | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return width, height
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp_size(data)
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    at = 2
    while at + 9 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            at += 2
            continue
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            return width, height
        at += 2 + length
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        (bits,) = struct.unpack("<I", data[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    return None
