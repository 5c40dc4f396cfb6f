"""`cooldowns:` and `daily_reset_utc:`, at the top level and per provider.

    cooldowns:                      # every provider's, unless it sets its own
      rate_limit: [10, 30, 60, 120] # a key x model (or quota group) after its 1st, 2nd, ...
                                    # consecutive 429; the last rung repeats. An upstream
                                    # Retry-After replaces the rung.
      auth: [300, 900, 3600]        # a key, every model, after a 401/403
      key_lockout:                  # a key rate-limited on `models` distinct models (or
        models: 3                   # quota groups) within `within` seconds, with no success
        within: 600                 # between, is locked out whole, on `ladder`.
        ladder: [600, 1800, 3600]   # `key_lockout: off` turns this off.
      probe_hold: 5                 # while a cooled key's one probe is out, the others are
                                    # told to come back this much later
      probe_timeout: 600            # a probe not back by then is taken as lost
    daily_reset_utc: "00:00"        # when daily quotas (rpd, tpd) start afresh; "none": the
                                    # day windows only roll
    providers:
      gemini:
        cooldowns: {rate_limit: [30, 60]}  # the fields named here; the rest from the top
        daily_reset_utc: "07:00"

Every duration is in seconds. A provider's `cooldowns` replaces the fields it names and takes
the others from the top level's, which takes its own from the defaults (`CooldownPolicy`).
A time of day is best quoted: YAML reads an unquoted `7:30` as the number 450.
"""

from __future__ import annotations

import re
from datetime import time

import attrs

from config.model import CooldownPolicy
from config.reader import Reader, child, shown

COOLDOWN_FIELDS = ("rate_limit", "auth", "key_lockout", "probe_hold", "probe_timeout")
LOCKOUT_FIELDS = ("models", "within", "ladder")
_OFF = ("off", "none", "false")
_TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
DEFAULTS = CooldownPolicy()


def read_cooldowns(
    reader: Reader, value: object, path: str, base: CooldownPolicy = DEFAULTS
) -> CooldownPolicy:
    """`base` with the fields `value` names replaced (a problem leaves `base`'s value)."""
    fields = reader.mapping(value, path, allowed=COOLDOWN_FIELDS) or {}
    policy = base
    for name, raw in fields.items():  # in document order, as problems are reported
        field_path = child(path, name)
        if name == "key_lockout":
            policy = _read_lockout(reader, raw, field_path, policy)
        elif raw is None:
            continue
        elif name in ("rate_limit", "auth"):  # each field named, so its type is checked
            ladder = read_ladder(reader, raw, field_path)
            if ladder is not None:
                policy = (
                    attrs.evolve(policy, rate_limit=ladder)
                    if name == "rate_limit"
                    else attrs.evolve(policy, auth=ladder)
                )
        else:
            seconds = reader.seconds(raw, field_path)
            if seconds is not None:
                policy = (
                    attrs.evolve(policy, probe_hold=seconds)
                    if name == "probe_hold"
                    else attrs.evolve(policy, probe_timeout=seconds)
                )
    return policy


def read_ladder(reader: Reader, value: object, path: str) -> tuple[float, ...] | None:
    """A non-empty list of durations (a single number reads as a list of one)."""
    items = [value] if isinstance(value, int | float) else reader.items(value, path)
    if items is None:
        return None
    if not items:
        reader.fail(path, "list at least one number of seconds")
        return None
    rungs = [reader.seconds(item, f"{path}[{index}]") for index, item in enumerate(items)]
    return None if None in rungs else tuple(rung for rung in rungs if rung is not None)


def read_daily_reset(reader: Reader, value: object, path: str, base: time | None) -> time | None:
    """`"HH:MM"` (UTC), or `"none"`; `base` when not given or wrong (the problem is noted)."""
    if value is None:
        return base
    if isinstance(value, str):
        text = reader.expand(value, path)
        if text is None:
            return base
        text = text.strip()
        if text.lower() in _OFF:
            return None
        match = _TIME.fullmatch(text)
        if match:
            return time(int(match[1]), int(match[2]))
        value = text
    hint = " (quote it: YAML reads 7:30 as a number)" if isinstance(value, int) else ""
    reader.fail(path, f'expected a time of day "HH:MM" (UTC) or "none", got {shown(value)}{hint}')
    return base


def _read_lockout(
    reader: Reader, value: object, path: str, policy: CooldownPolicy
) -> CooldownPolicy:
    if value is False or (isinstance(value, str) and value.strip().lower() in _OFF):
        return attrs.evolve(policy, lockout_models=None)
    for name, raw in (reader.mapping(value, path, allowed=LOCKOUT_FIELDS) or {}).items():
        field_path = child(path, name)
        if raw is None:
            continue
        if name == "models":
            models = reader.integer(raw, field_path, minimum=1)
            if models is not None:
                policy = attrs.evolve(policy, lockout_models=models)
        elif name == "within":
            within = reader.seconds(raw, field_path)
            if within is not None:
                policy = attrs.evolve(policy, lockout_within=within)
        else:
            ladder = read_ladder(reader, raw, field_path)
            if ladder is not None:
                policy = attrs.evolve(policy, lockout=ladder)
    return policy
