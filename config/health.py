"""The `health:` settings (top level and per provider) and a virtual model's `order`.

    health: {interval: 30, timeout: 5, probe: models}   # the defaults
    providers:
      groq:
        health: {interval: 10, probe: completion}       # field by field over the top level
      local:
        health: off                                     # never probed (also `interval: 0`)
    virtual_models:
      coding-fast:
        chain: [groq/llama-3.3-70b, cerebras/llama-3.3-70b]
        order: latency                                  # listed (default) | priority | latency

`probe: models` sends `GET /models`; `probe: completion` a 1-token chat completion to the
provider's first listed model (so a provider given it must list one). A provider without a
listed model is probed with `GET /models` whatever the top level says. What the probes and the
orders do is the health checker's (`actors.health`, `actors.health_book`).
"""

from __future__ import annotations

import attrs

from config.model import CHAIN_ORDERS, PROBE_KINDS, Config, HealthSettings
from config.reader import Reader, child

HEALTH_FIELDS = ("interval", "timeout", "probe")
_OFF = ("off", "false", "no", "never")


def read_health(reader: Reader, value: object, path: str) -> HealthSettings | None:
    """A `health:` mapping (or `off`); only the fields it sets are set. None on a problem."""
    if value is False or (isinstance(value, str) and value.strip().lower() in _OFF):
        return HealthSettings(interval=0.0)
    fields = reader.mapping(value, path, allowed=HEALTH_FIELDS)
    if fields is None:
        return None
    before = len(reader.problems)
    settings = HealthSettings()
    if fields.get("interval") is not None:
        interval = _interval(reader, fields["interval"], child(path, "interval"))
        settings = attrs.evolve(settings, interval=interval)
    if fields.get("timeout") is not None:
        timeout = reader.seconds(fields["timeout"], child(path, "timeout"))
        settings = attrs.evolve(settings, timeout=timeout)
    if fields.get("probe") is not None:
        probe = reader.choice(fields["probe"], child(path, "probe"), PROBE_KINDS)
        settings = attrs.evolve(settings, probe=probe)
    return settings if len(reader.problems) == before else None


def read_provider_health(
    reader: Reader, value: object, path: str, models: tuple[str, ...] | None
) -> HealthSettings | None:
    """A provider's own `health:`; `models` is what it lists (None: unreadable, no check)."""
    settings = read_health(reader, value, path)
    lists_none = models is not None and all(model == "*" for model in models)
    if settings is not None and settings.probe == "completion" and lists_none:
        reader.fail(
            child(path, "probe"),
            "completion probes need a listed model (this provider lists only '*')",
        )
        return None
    return settings


def read_order(reader: Reader, value: object, path: str) -> str | None:
    """A virtual model's `order` (absent: `listed`)."""
    if value is None:
        return "listed"
    return reader.choice(value, path, CHAIN_ORDERS)


def probe_model(config: Config, provider: str) -> str | None:
    """The model a probe of `provider` names (its key is leased for it): its first listed
    model, or None when it lists none."""
    listed = config.providers[provider].listed_models
    return listed[0] if listed else None


def _interval(reader: Reader, value: object, path: str) -> float | None:
    """Seconds between probes: a number >= 0, where 0 (or `off`) means never."""
    if value is False or (isinstance(value, str) and value.strip().lower() in _OFF):
        return 0.0
    if isinstance(value, str):
        text = reader.expand(value, path)
        if text is None:
            return None
        if text.strip().lower() in _OFF:
            return 0.0
        value = text
    return reader.number(value, path, "expected a number of seconds (0 or off: never)", minimum=0)
