"""The embeddings body the simulator sends for a `Complete` reply to `POST /v1/embeddings`.

Each input gets a vector of its own that anyone can compute again (`vector_for`: drawn from a
hash of the input), so a test can check that every caller of a batch got back its own
vectors, in its own order. `dimensions` sets the length (8 without it); `encoding_format:
base64` packs the floats as little-endian float32, as OpenAI does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from typing import Any

from edge.simulator.replies import SimRequest

DEFAULT_DIMENSIONS = 8


def vector_for(item: Any, dimensions: int = DEFAULT_DIMENSIONS) -> list[float]:
    """The simulator's embedding of one input (a string or a list of token ids)."""
    digest = hashlib.sha256(json.dumps(item).encode()).digest()
    while len(digest) < dimensions:
        digest += hashlib.sha256(digest).digest()
    return [round(byte / 255.0, 6) for byte in digest[:dimensions]]


def inputs_of(request: SimRequest) -> list[Any]:
    body = request.json if isinstance(request.json, dict) else {}
    value = body.get("input")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return [value]
    return list(value) if isinstance(value, list) else []


def embeddings_body(request: SimRequest, model: str) -> dict[str, Any]:
    body = request.json if isinstance(request.json, dict) else {}
    dimensions = body.get("dimensions") or DEFAULT_DIMENSIONS
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    tokens = 0
    for index, item in enumerate(inputs_of(request)):
        vector = vector_for(item, dimensions)
        embedding: Any = vector
        if as_base64:
            embedding = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": embedding})
        tokens += len(item.split()) if isinstance(item, str) else len(item)
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
