"""Simulated OpenAI-compatible upstreams that really speak HTTP/1.1 on 127.0.0.1.

Used by `baton demo` and by the end-to-end tests as the fake upstream. Written on trio + h11
directly so every byte (and every misbehaviour) is under control:

    sim = Simulator(sequence(Error.rate_limited(retry_after=2), Complete("hi")))
    async with sim.serving():
        ...  # point a client at sim.base_url

Modules: `replies` (what was received, what to answer, scripts), `payloads` (the OpenAI
bodies and stream chunks), `wire` (h11 over a trio stream), `server` (the `Simulator`).
"""

from edge.simulator.replies import (
    Complete,
    Cut,
    Drip,
    Error,
    Garbage,
    Hang,
    Reply,
    Script,
    SimRequest,
    Stall,
    ToolCall,
    always,
    by_key,
    by_model,
    error_envelope,
    sequence,
)
from edge.simulator.server import Simulator

__all__ = [
    "Complete",
    "Cut",
    "Drip",
    "Error",
    "Garbage",
    "Hang",
    "Reply",
    "Script",
    "SimRequest",
    "Simulator",
    "Stall",
    "ToolCall",
    "always",
    "by_key",
    "by_model",
    "error_envelope",
    "sequence",
]
