"""What is known of a model, apart from who serves it: its limits, its list prices and what it
can do. Frozen values; `config.model_catalog` holds the bundled table and the lookup,
`config.catalog_section` reads the `model_catalog:` section that extends and overrides it.

A `ModelInfo` field that is None is unknown, never zero: a model whose price is unknown has an
unknown cost, and `/v1/models` shows it as null. A capability is a plain bool: `False` means
"not known to", which for a model in the catalog is "cannot".

A config entry (`CatalogEntry`) carries only the fields it sets. It is laid over the bundled
entry for the same model field by field (`ModelInfo.with_fields`), so
`model_catalog: {gpt-4o: {input_price: 2.0}}` changes one price and keeps the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

CAPABILITIES = ("tools", "vision", "reasoning", "json_schema", "embeddings")
TOKEN_FIELDS = ("context_window", "max_output")
PRICE_FIELDS = ("input_price", "output_price", "cached_input_price")  # USD per 1M tokens
Value = int | float | bool | None


@attrs.frozen
class Capabilities:
    tools: bool = False  # function calling
    vision: bool = False  # image input
    reasoning: bool = False  # thinks before answering (reasoning tokens, effort or budget)
    json_schema: bool = False  # structured output held to a JSON Schema
    embeddings: bool = False  # an embedding model, not a chat one

    def as_dict(self) -> dict[str, bool]:
        return attrs.asdict(self)


@attrs.frozen
class ModelInfo:
    """A model's context window and longest answer (tokens), its prices (USD per 1M tokens;
    cached input: prompt tokens read from the provider's cache) and its capabilities."""

    context_window: int | None = None
    max_output: int | None = None
    input_price: float | None = None
    output_price: float | None = None
    cached_input_price: float | None = None
    capabilities: Capabilities = Capabilities()

    @property
    def priced(self) -> bool:
        """Both the input and the output price are known: a cost can be reckoned."""
        return self.input_price is not None and self.output_price is not None

    def with_fields(self, fields: Mapping[str, Value]) -> ModelInfo:
        """This info with `fields` (ModelInfo's own names and capability names) laid over it."""
        own: dict[str, Any] = {
            name: value for name, value in fields.items() if name not in CAPABILITIES
        }
        flags = {name: bool(value) for name, value in fields.items() if name in CAPABILITIES}
        return attrs.evolve(self, capabilities=attrs.evolve(self.capabilities, **flags), **own)


@attrs.frozen
class CatalogEntry:
    """One entry of `model_catalog:`: a model name or fnmatch pattern (matched
    case-insensitively) and the fields it sets."""

    pattern: str
    fields: Mapping[str, Value] = attrs.field(factory=dict)
