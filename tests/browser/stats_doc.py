"""The `/stats` example of docs/stats.md as a snapshot, so the page is tested against the
documented shape itself (and a change to the doc reaches these tests)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parents[2] / "docs" / "stats.md"


def documented_snapshot() -> dict[str, Any]:
    """The JSON block of docs/stats.md without its `//` comments."""
    text = DOC.read_text()
    block = re.search(r"```json\n(.*?)```", text, re.DOTALL)
    assert block is not None, "docs/stats.md has no json block"
    lines = [re.sub(r"\s+//.*$", "", line) for line in block.group(1).splitlines()]
    return json.loads("\n".join(lines))


def ticking(base: dict[str, Any], calls_per_push: int = 3) -> Any:
    """A snapshot callable over `base` whose clock moves one second and whose call count grows
    by `calls_per_push` on every push, as a busy gateway's would."""
    pushes = 0

    def snapshot() -> dict[str, Any]:
        nonlocal pushes
        data = copy.deepcopy(base)
        data["now"] += pushes
        data["totals"]["calls"] += pushes * calls_per_push
        pushes += 1
        return data

    return snapshot
