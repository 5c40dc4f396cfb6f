"""Ids of Responses objects: `resp_`, `msg_`, `fc_`, `rs_`, and `call_` for tool calls an
upstream left unnamed. Random ids carry 24 bytes of `secrets` entropy, like OpenAI's own; the
deterministic mode counts from a seed so test vectors can spell ids out.
"""

from __future__ import annotations

import secrets

import attrs


@attrs.define
class IdFactory:
    _next: int | None = None  # None: random ids

    @classmethod
    def random(cls) -> IdFactory:
        return cls()

    @classmethod
    def deterministic(cls, seed: int = 0) -> IdFactory:
        """Ids `<prefix>_<8 hex digits>`, counting up from `seed` across every prefix."""
        return cls(seed)

    def new(self, prefix: str) -> str:
        if self._next is None:
            return f"{prefix}_{secrets.token_hex(24)}"
        value, self._next = self._next, self._next + 1
        return f"{prefix}_{value:08x}"

    def response(self) -> str:
        return self.new("resp")

    def message(self) -> str:
        return self.new("msg")

    def function_call(self) -> str:
        return self.new("fc")

    def reasoning(self) -> str:
        return self.new("rs")

    def call(self) -> str:
        return self.new("call")
