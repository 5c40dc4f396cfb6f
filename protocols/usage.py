"""Token usage as an upstream reports it, in one shape for every protocol."""

from __future__ import annotations

import attrs


@attrs.frozen
class Usage:
    """Tokens as the serving upstream reported them (None: it did not say)."""

    input: int | None = None
    output: int | None = None
    reasoning: int | None = None
    cached: int | None = None

    @property
    def total(self) -> int:
        return (self.input or 0) + (self.output or 0)
