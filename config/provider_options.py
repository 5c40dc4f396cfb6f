"""A provider's model filters, temperature rule, key tiers and rotation tolerance.

    providers:
      gemini:
        keys:
          - ${GEMINI_API_KEY_1}                       # tier 1 (paid), the default
          - {key: "${GEMINI_API_KEY_2}", tier: free}  # tier 2: leased when tier 1 is full
        ignore_models: ["*-preview*"]                 # fnmatch patterns...
        allow_models: [gemini-2.5-flash-preview]      # ...and exemptions: allow wins
        temperature_zero: remove                      # keep | remove | set | <number>
        max_concurrent_per_key: 2
        tier_multipliers: {paid: 3}                   # tier-1 keys take 2 x 3 = 6 at once
        rotation_tolerance: 3.0                       # 0: least loaded; > 0: weighted random

`temperature_zero` answers LLM-API-Key-Proxy's OVERRIDE_TEMPERATURE_ZERO: some models follow a
tool schema worse at temperature 0, so a request asking for exactly 0 may have its temperature
removed (`remove`), or raised to 1.0 (`set`) or to a number given instead of a mode. The
rewrite itself is `protocols.temperature`.

A key's tier is `paid` (1), `free` (2) or any integer of at least 1; lower tiers are leased
first and `tier_multipliers` scales `max_concurrent_per_key` per tier (`actors.keypool`).
`rotation_tolerance` falls back to the top-level one, then to 0.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from config.model import TEMPERATURE_ZERO_MODES, TIER_NAMES
from config.reader import Reader, child, shown

OPTION_FIELDS = (
    "ignore_models",
    "allow_models",
    "temperature_zero",
    "tier_multipliers",
    "rotation_tolerance",
)
DEFAULT_TEMPERATURE = 1.0  # what `set` raises a temperature of 0 to (the original's value)


@attrs.frozen
class ProviderOptions:
    """The fields this module reads, named as on `ProviderConfig`."""

    ignore_models: tuple[str, ...] = ()
    allow_models: tuple[str, ...] = ()
    temperature_zero: str = "keep"
    temperature_zero_value: float = DEFAULT_TEMPERATURE
    tier_multipliers: Mapping[int, int] = attrs.field(factory=dict)
    rotation_tolerance: float = 0.0


def read_provider_options(
    reader: Reader, fields: Mapping[str, object], path: str, tolerance: float = 0.0
) -> ProviderOptions | None:
    """`tolerance`: the top-level `rotation_tolerance`, for a provider that sets none."""
    before = len(reader.problems)
    ignore = read_patterns(reader, fields.get("ignore_models"), child(path, "ignore_models"))
    allow = read_patterns(reader, fields.get("allow_models"), child(path, "allow_models"))
    temperature = read_temperature_zero(
        reader, fields.get("temperature_zero", "keep"), child(path, "temperature_zero")
    )
    multipliers = read_tier_multipliers(
        reader, fields.get("tier_multipliers"), child(path, "tier_multipliers")
    )
    if "rotation_tolerance" in fields:
        tolerance_path = child(path, "rotation_tolerance")
        found = read_tolerance(reader, fields["rotation_tolerance"], tolerance_path)
        tolerance = tolerance if found is None else found
    if len(reader.problems) > before:
        return None
    assert ignore is not None and allow is not None and temperature is not None
    assert multipliers is not None
    return ProviderOptions(
        ignore_models=ignore,
        allow_models=allow,
        temperature_zero=temperature[0],
        temperature_zero_value=temperature[1],
        tier_multipliers=multipliers,
        rotation_tolerance=tolerance,
    )


def read_patterns(reader: Reader, value: object, path: str) -> tuple[str, ...] | None:
    """A list of fnmatch patterns (a bare string is a list of one)."""
    if value is None:
        return ()
    items = reader.items(value, path)
    if items is None:
        return None
    return reader.names(items, path, what="pattern")


def read_temperature_zero(reader: Reader, value: object, path: str) -> tuple[str, float] | None:
    """`keep`, `remove`, `set` (to 1.0), or a number: `set` to that number."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = reader.number(value, path, "expected a temperature of 0 to 2", minimum=0.0)
        if number is not None and number > 2.0:
            reader.fail(path, f"expected a temperature of 0 to 2, got {number:g}")
            return None
        return None if number is None else ("set", number)
    problem = f"expected one of {', '.join(TEMPERATURE_ZERO_MODES)} or a number"
    if not isinstance(value, str) or value.strip() not in TEMPERATURE_ZERO_MODES:
        reader.fail(path, f"{problem}, got {shown(value)}")
        return None
    return value.strip(), DEFAULT_TEMPERATURE


def read_tier(reader: Reader, value: object, path: str) -> int | None:
    """`paid` (1), `free` (2), or an integer of at least 1."""
    if isinstance(value, str) and value.strip() in TIER_NAMES:
        return TIER_NAMES[value.strip()]
    if isinstance(value, str) and not value.strip().isdigit():
        reader.fail(path, f"expected paid, free or a number of at least 1, got {shown(value)}")
        return None
    return reader.integer(value, path, minimum=1)


def read_tier_multipliers(reader: Reader, value: object, path: str) -> dict[int, int] | None:
    section = reader.mapping(_stringify_keys(value), path)
    if section is None:
        return None
    multipliers: dict[int, int] = {}
    for name, raw in section.items():
        tier = read_tier(reader, name, path)
        factor = reader.integer(raw, child(path, name), minimum=1)
        if tier is not None and factor is not None:
            multipliers[tier] = factor
    return multipliers


def read_tolerance(reader: Reader, value: object, path: str) -> float | None:
    return reader.number(value, path, "expected a number of at least 0", minimum=0.0)


def _stringify_keys(value: object) -> object:
    """YAML reads `{1: 5}` with an integer key; tiers may be written either way."""
    if isinstance(value, dict):
        return {str(key) if isinstance(key, int) else key: item for key, item in value.items()}
    return value
