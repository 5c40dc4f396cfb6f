"""Output items while they stream: fragments in, the item as it stands out.

Each knows its `output_index` and id, renders itself with any status (`in_progress` in
`output_item.added` and in snapshots, the final status in `output_item.done`), and names the
fields that locate its content events (`at`). Fragments are kept as lists and joined on
demand, so a long stream costs linear time.
"""

from __future__ import annotations

from typing import Any

import attrs

from protocols.responses.output import (
    function_call_item,
    message_item,
    reasoning_item,
    refusal_part,
    text_part,
)


@attrs.define
class PartialMessage:
    index: int
    id: str
    parts: list[tuple[str, list[str]]] = attrs.field(factory=list)  # (kind, fragments)

    def part(self, number: int) -> dict[str, Any]:
        kind, fragments = self.parts[number]
        text = "".join(fragments)
        return text_part(text) if kind == "output_text" else refusal_part(text)

    def item(self, status: str) -> dict[str, Any]:
        return message_item(self.id, [self.part(n) for n in range(len(self.parts))], status)

    @property
    def at(self) -> dict[str, Any]:
        """Where a content event points: the item, and its last (open) part."""
        return {
            "item_id": self.id,
            "output_index": self.index,
            "content_index": len(self.parts) - 1,
        }


@attrs.define
class PartialReasoning:
    index: int
    id: str
    fragments: list[str] = attrs.field(factory=list)

    def item(self, status: str) -> dict[str, Any]:
        return reasoning_item(self.id, "".join(self.fragments), status)

    @property
    def at(self) -> dict[str, Any]:
        return {"item_id": self.id, "output_index": self.index, "summary_index": 0}


@attrs.define
class PartialCall:
    index: int
    id: str
    call_id: str
    name: str
    chat_index: Any
    upstream_id: str | None
    fragments: list[str] = attrs.field(factory=list)

    def item(self, status: str) -> dict[str, Any]:
        return function_call_item(self.id, self.call_id, self.name, "".join(self.fragments), status)

    @property
    def at(self) -> dict[str, Any]:
        return {"item_id": self.id, "output_index": self.index}


PartialItem = PartialMessage | PartialReasoning | PartialCall
