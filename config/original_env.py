"""LLM-API-Key-Proxy's `.env`, read as it is: the variables beside `<P>_API_KEY[_N]`.

With no baton.yaml, `config.defaults` enables providers by their keys and then lets this
module apply the original's per-provider and global variables to each (`<P>` is the
provider's name in capitals, `-` and `.` as `_`; lists are comma-separated, blanks dropped):

    IGNORE_MODELS_<P>=a,b*            -> ignore_models (fnmatch; "p/model" is read as "model")
    WHITELIST_MODELS_<P>=a            -> allow_models (allow wins over ignore)
    ROTATION_MODE_<P>=balanced|sequential              -> rotation
    MAX_CONCURRENT_REQUESTS_PER_KEY_<P>[_<MODE>]=n     -> max_concurrent_per_key (<= 0: none)
    CONCURRENCY_MULTIPLIER_<P>_PRIORITY_<N>[_<MODE>]=m -> tier_multipliers[N]
    QUOTA_GROUPS_<P>_<G>=m1,m2        -> quota_groups[g] (group named in lower case)
    PROVIDER_PRIORITY_<P>=n           -> priority (baton's own; the original has none)
    ROTATION_TOLERANCE=t              -> rotation_tolerance of every provider
    OVERRIDE_TEMPERATURE_ZERO=remove|set|true|1|yes|false -> temperature_zero of every provider
    TIMEOUT_CONNECT, TIMEOUT_READ_STREAMING, TIMEOUT_READ_NON_STREAMING -> timeouts

A `_<MODE>` form (`_BALANCED`, `_SEQUENTIAL`) counts only when it names the provider's
rotation, and then over the plain form, as in the original. The timeouts map onto baton's
phases: TIMEOUT_CONNECT is `connect`; TIMEOUT_READ_STREAMING (the longest silence between
chunks) is `idle`; TIMEOUT_READ_NON_STREAMING (the wait for a whole reply, which arrives at
once) is `first_byte`. TIMEOUT_WRITE and TIMEOUT_POOL have no counterpart and are ignored
(`config.env_lint` says so). A value that cannot be read is an error naming the variable.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import attrs

from config.env import env_prefix
from config.model import ROTATIONS, ProviderConfig, RateLimits, Timeouts
from config.reader import Reader, shown

TEMPERATURE_MODES = {"remove": "remove", "set": "set", "true": "set", "1": "set", "yes": "set"}
TIMEOUTS = {
    "TIMEOUT_CONNECT": "connect",
    "TIMEOUT_READ_STREAMING": "idle",
    "TIMEOUT_READ_NON_STREAMING": "first_byte",
}


def comma_list(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(item.strip() for item in text.split(",") if item.strip()))


def apply_original_env(
    reader: Reader, provider: ProviderConfig, others: Collection[str] = ()
) -> ProviderConfig:
    """`provider` with the original's variables for it applied. `others`: every other
    provider's prefix, so that `QUOTA_GROUPS_GEMINI_CLI_PRO` is not read as gemini's group
    `cli_pro` when `gemini_cli` is a provider too."""
    env, prefix = reader.env, env_prefix(provider.name)
    changes: dict[str, Any] = {}
    own = f"{provider.name}/"
    if f"IGNORE_MODELS_{prefix}" in env:
        patterns = comma_list(env[f"IGNORE_MODELS_{prefix}"])
        changes["ignore_models"] = tuple(p.removeprefix(own) for p in patterns)
    if f"WHITELIST_MODELS_{prefix}" in env:
        patterns = comma_list(env[f"WHITELIST_MODELS_{prefix}"])
        changes["allow_models"] = tuple(p.removeprefix(own) for p in patterns)
    rotation = provider.rotation
    if env.get(f"ROTATION_MODE_{prefix}", "").strip():
        variable = f"ROTATION_MODE_{prefix}"
        rotation = reader.choice(env[variable].strip().lower(), variable, ROTATIONS) or rotation
        changes["rotation"] = rotation
    mode = rotation.upper()
    for variable in (
        f"MAX_CONCURRENT_REQUESTS_PER_KEY_{prefix}",
        f"MAX_CONCURRENT_REQUESTS_PER_KEY_{prefix}_{mode}",
    ):
        if env.get(variable, "").strip():
            cap = reader.integer(env[variable], variable)
            if cap is not None:
                changes["max_concurrent_per_key"] = cap if cap > 0 else None
    variable = f"PROVIDER_PRIORITY_{prefix}"
    if env.get(variable, "").strip():
        priority = reader.integer(env[variable], variable)
        if priority is not None:
            changes["priority"] = priority
    multipliers = _multipliers(reader, prefix, mode)
    if multipliers:
        changes["tier_multipliers"] = multipliers
    groups = _quota_groups(env, prefix, [p for p in others if p != prefix])
    if groups:
        changes["rate_limits"] = RateLimits(quota_groups=groups)
    return attrs.evolve(provider, **changes, **global_options(reader))


def global_options(reader: Reader) -> dict[str, Any]:
    """ROTATION_TOLERANCE and OVERRIDE_TEMPERATURE_ZERO, as provider fields."""
    options: dict[str, Any] = {}
    if reader.env.get("ROTATION_TOLERANCE", "").strip():
        tolerance = reader.number(
            reader.env["ROTATION_TOLERANCE"],
            "ROTATION_TOLERANCE",
            "expected a number of at least 0",
            minimum=0.0,
        )
        if tolerance is not None:
            options["rotation_tolerance"] = tolerance
    raw = reader.env.get("OVERRIDE_TEMPERATURE_ZERO", "").strip().lower()
    if raw in TEMPERATURE_MODES:
        options["temperature_zero"] = TEMPERATURE_MODES[raw]
    elif raw not in ("", "false", "0", "no"):
        reader.fail("OVERRIDE_TEMPERATURE_ZERO", f"expected remove, set or false, got {shown(raw)}")
    return options


def original_timeouts(reader: Reader, base: Timeouts) -> Timeouts:
    found = {}
    for variable, field in TIMEOUTS.items():
        if reader.env.get(variable, "").strip():
            seconds = reader.seconds(reader.env[variable], variable)
            if seconds is not None:
                found[field] = seconds
    return attrs.evolve(base, **found)


def _multipliers(reader: Reader, prefix: str, mode: str) -> dict[int, int]:
    start = f"CONCURRENCY_MULTIPLIER_{prefix}_PRIORITY_"
    plain: dict[int, int] = {}
    for_mode: dict[int, int] = {}
    for variable, value in sorted(reader.env.items()):
        rest = variable.removeprefix(start)
        if rest == variable:
            continue
        tier_text, _, suffix = rest.partition("_")
        if not tier_text.isdigit() or suffix not in ("", "BALANCED", "SEQUENTIAL"):
            continue  # not this provider's (or a typo: config.env_lint names it)
        factor = reader.integer(value, variable, minimum=1)
        if factor is None or int(tier_text) < 1:
            continue
        if not suffix:
            plain[int(tier_text)] = factor
        elif suffix == mode:
            for_mode[int(tier_text)] = factor
    return {**plain, **for_mode}


def _quota_groups(
    env: Mapping[str, str], prefix: str, others: Collection[str]
) -> dict[str, tuple[str, ...]]:
    start = f"QUOTA_GROUPS_{prefix}_"
    longer = [f"QUOTA_GROUPS_{other}_" for other in others if other.startswith(prefix + "_")]
    groups: dict[str, tuple[str, ...]] = {}
    for variable, value in sorted(env.items()):
        if not variable.startswith(start) or any(variable.startswith(o) for o in longer):
            continue
        models = comma_list(value)
        if models:  # the original: an empty value switches a default group off
            groups[variable.removeprefix(start).lower()] = models
    return groups
