"""`temperature: 0` rewritten per provider: LLM-API-Key-Proxy's OVERRIDE_TEMPERATURE_ZERO.

At temperature 0 some models follow their training over the tool schema they were given and
call tools that do not exist. A provider configured with `temperature_zero: remove` has a
request's `temperature` taken out when it is exactly 0 (the upstream's default applies);
with `set` it is replaced by `value` (1.0 unless configured). Any other temperature, and any
request without one, passes unchanged; so does everything with `keep`, the default.

Pure: the payload is a decoded JSON object; a new dict is returned, the input is not touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MODES = ("keep", "remove", "set")


def is_zero(value: object) -> bool:
    """JSON's 0 and 0.0, never `false` (a bool is not a temperature)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and value == 0


def apply_temperature_zero(
    payload: Mapping[str, Any], mode: str, value: float = 1.0
) -> dict[str, Any]:
    """`payload` with a `temperature` of 0 removed (`remove`) or set to `value` (`set`)."""
    if mode not in MODES:
        raise ValueError(f"unknown temperature_zero mode {mode!r}")
    result = dict(payload)
    if mode == "keep" or not is_zero(result.get("temperature")):
        return result
    if mode == "remove":
        del result["temperature"]
    else:
        result["temperature"] = value
    return result
