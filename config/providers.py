"""The `providers:` section: one `ProviderConfig` per upstream, with its pool of keys.

Keys are read by `config.keys`; model filters, the temperature rule, key tiers and rotation
tolerance by `config.provider_options`.

Rate limits (`limits`, `model_limits`, `quota_groups`) are read by `config.limits`, `prices`
by `config.prices`. How the upstream is reached (`max_connections`, `http2`, `proxy`,
`ca_bundle`) and how much of its reply baton reads (`max_response_bytes`, `max_event_bytes`)
are read here; a proxy URL may hold a password, so it is never quoted.
"""

from __future__ import annotations

import re
from datetime import time

import attrs

from config.catalog import KNOWN_BASE_URLS, KNOWN_KINDS
from config.cooldowns import DEFAULTS, read_cooldowns, read_daily_reset
from config.health import read_provider_health
from config.keys import read_keys
from config.limits import read_limits, read_model_limits, read_quota_groups
from config.model import (
    ANY_MODEL,
    DAILY_RESET_UTC,
    MAX_CONNECTIONS,
    MAX_EVENT_BYTES,
    MAX_RESPONSE_BYTES,
    PROVIDER_KINDS,
    ROTATIONS,
    CooldownPolicy,
    ProviderConfig,
    RateLimits,
)
from config.prices import read_prices
from config.provider_options import OPTION_FIELDS, read_provider_options
from config.reader import Reader, child, kind
from config.transport import read_ca_bundle, read_proxy

FIELDS = (
    "kind",
    "base_url",
    "keys",
    "models",
    "priority",
    "rotation",
    "max_concurrent_per_key",
    "headers",
    "limits",
    "model_limits",
    "quota_groups",
    "health",
    "cooldowns",
    "daily_reset_utc",
    "prices",
    "stream_usage",
    "max_connections",
    "http2",
    "proxy",
    "ca_bundle",
    "max_response_bytes",
    "max_event_bytes",
    *OPTION_FIELDS,
)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def read_providers(
    reader: Reader,
    value: object,
    path: str = "providers",
    *,
    cooldowns: CooldownPolicy = DEFAULTS,
    daily_reset: time | None = DAILY_RESET_UTC,
    tolerance: float = 0.0,
) -> tuple[dict[str, ProviderConfig], tuple[str, ...]]:
    """The providers that read cleanly, and every name declared (valid or not).

    Chains are checked against the declared names, so a provider with a mistake in it does
    not also make every chain that names it fail.
    """
    section = reader.mapping(value, path) or {}
    providers: dict[str, ProviderConfig] = {}
    for name, body in section.items():
        provider_path = child(path, name)
        if not _NAME.fullmatch(name):
            reader.fail(
                provider_path,
                "a provider name may only contain letters, digits, '.', '_' and '-'",
            )
            continue
        provider = read_provider(
            reader, name, body, provider_path, cooldowns, daily_reset, tolerance
        )
        if provider is not None:
            providers[name] = provider
    return providers, tuple(section)


def read_provider(
    reader: Reader,
    name: str,
    value: object,
    path: str,
    cooldowns: CooldownPolicy = DEFAULTS,
    daily_reset: time | None = DAILY_RESET_UTC,
    tolerance: float = 0.0,
) -> ProviderConfig | None:
    """`cooldowns`, `daily_reset` and `tolerance`: the top level's, for the fields the
    provider omits."""
    before = len(reader.problems)
    fields = reader.mapping(value, path, allowed=FIELDS)
    if fields is None:
        return None
    fields = {key: item for key, item in fields.items() if item is not None}

    # a well-known provider speaks its own API unless told otherwise (anthropic: Messages)
    default_kind = KNOWN_KINDS.get(name, "openai")
    kind_ = reader.choice(fields.get("kind", default_kind), child(path, "kind"), PROVIDER_KINDS)
    if "base_url" in fields:
        base_url = reader.url(fields["base_url"], child(path, "base_url"))
    else:
        base_url = KNOWN_BASE_URLS.get(name)
        if base_url is None:
            reader.fail(child(path, "base_url"), "is required")
    keys = read_keys(reader, name, fields.get("keys"), child(path, "keys"))
    models = _models(reader, fields.get("models"), child(path, "models"))
    priority = reader.integer(fields.get("priority", 100), child(path, "priority"))
    rotation = reader.choice(fields.get("rotation", "balanced"), child(path, "rotation"), ROTATIONS)
    concurrency = None
    if "max_concurrent_per_key" in fields:
        concurrency = reader.integer(
            fields["max_concurrent_per_key"], child(path, "max_concurrent_per_key"), minimum=1
        )
    headers = _headers(reader, fields.get("headers"), child(path, "headers"))
    health = read_provider_health(reader, fields.get("health"), child(path, "health"), models)
    limits = read_limits(reader, fields.get("limits"), child(path, "limits"))
    groups = read_quota_groups(
        reader, fields.get("quota_groups"), child(path, "quota_groups"), models
    )
    model_limits = read_model_limits(
        reader, fields.get("model_limits"), child(path, "model_limits"), models, groups
    )
    cooldowns = read_cooldowns(reader, fields.get("cooldowns"), child(path, "cooldowns"), cooldowns)
    reset_path = child(path, "daily_reset_utc")
    daily_reset = read_daily_reset(reader, fields.get("daily_reset_utc"), reset_path, daily_reset)
    prices = read_prices(reader, fields.get("prices"), child(path, "prices"), models)
    stream_usage = _flag(reader, fields, "stream_usage", path, default=True)
    http2 = _flag(reader, fields, "http2", path, default=False)
    max_connections = reader.integer(
        fields.get("max_connections", MAX_CONNECTIONS), child(path, "max_connections"), minimum=1
    )
    proxy = read_proxy(reader, fields.get("proxy"), child(path, "proxy"))
    ca_bundle = read_ca_bundle(reader, fields.get("ca_bundle"), child(path, "ca_bundle"))
    max_response_bytes = reader.integer(
        fields.get("max_response_bytes", MAX_RESPONSE_BYTES),
        child(path, "max_response_bytes"),
        minimum=1024,
    )
    max_event_bytes = reader.integer(
        fields.get("max_event_bytes", MAX_EVENT_BYTES),
        child(path, "max_event_bytes"),
        minimum=1024,
    )

    options = read_provider_options(reader, fields, path, tolerance)

    if len(reader.problems) > before:
        return None
    assert options is not None
    assert kind_ and base_url and keys and models and priority is not None and rotation
    assert headers is not None and limits is not None and health is not None
    assert groups is not None and model_limits is not None and prices is not None
    assert max_connections is not None
    assert max_response_bytes is not None and max_event_bytes is not None
    return ProviderConfig(
        name=name,
        base_url=base_url,
        keys=keys,
        kind=kind_,
        models=models,
        priority=priority,
        rotation=rotation,
        max_concurrent_per_key=concurrency,
        health=health,
        headers=headers,
        rate_limits=RateLimits(limits=limits, model_limits=model_limits, quota_groups=groups),
        cooldowns=cooldowns,
        daily_reset_utc=daily_reset,
        prices=prices,
        stream_usage=stream_usage,
        max_connections=max_connections,
        http2=http2,
        proxy=proxy,
        ca_bundle=ca_bundle,
        max_response_bytes=max_response_bytes,
        max_event_bytes=max_event_bytes,
        **attrs.asdict(options, recurse=False),
    )


def _flag(
    reader: Reader, fields: dict[str, object], name: str, path: str, *, default: bool
) -> bool:
    value = fields.get(name, default)
    if isinstance(value, bool):
        return value
    reader.fail(child(path, name), f"expected true or false, got {kind(value)}")
    return default


def _models(reader: Reader, value: object, path: str) -> tuple[str, ...] | None:
    if value is None:
        return (ANY_MODEL,)
    items = reader.items(value, path)
    if items is None:
        return None
    if not items:
        reader.fail(path, f"list at least one model, or {ANY_MODEL!r} for any")
        return None
    return reader.names(items, path, what="model name")


def _headers(reader: Reader, value: object, path: str) -> dict[str, str] | None:
    fields = reader.mapping(value, path)
    if fields is None:
        return None
    headers: dict[str, str] = {}
    for name, raw in fields.items():
        header_path = child(path, name)
        if not _HEADER_NAME.fullmatch(name):
            reader.fail(header_path, "not a valid header name")
        # Header values may be credentials: never quote them.
        text = reader.text(raw, header_path, secret=True)
        if text is not None and ("\r" in text or "\n" in text):
            reader.fail(header_path, "a header value may not contain a line break")
        elif text is not None:
            headers[name] = text
    return headers
