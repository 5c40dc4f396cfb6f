"""The human-readable summary `baton check` prints. It shows no secret: client keys are
counted, upstream keys are named by alias, header values are hidden, and any password or
query string in a base URL is masked."""

from __future__ import annotations

from config.model import (
    DAILY_RESET_UTC,
    DEFAULT_HEALTH,
    MAX_CONNECTIONS,
    MAX_EVENT_BYTES,
    MAX_RESPONSE_BYTES,
    Config,
    CooldownPolicy,
    HealthSettings,
    Limits,
    Loaded,
    Price,
    ProviderConfig,
    Timeouts,
    VirtualModel,
)
from config.urls import redact_url


def describe(loaded: Loaded) -> str:
    config = loaded.config
    lines = [f"source: {config.source}", _server(config), _timeouts(config.timeouts)]
    lines.append(_health(config))
    lines.append(f"providers ({len(config.providers)}):")
    lines.extend(line for p in config.providers.values() for line in _provider(p))
    if not config.providers:
        lines.append("  (none)")
    lines.append(f"virtual models ({len(config.virtual_models)}):")
    lines.extend(_virtual_model(v) for v in config.virtual_models.values())
    if not config.virtual_models:
        lines.append("  (none)")
    lines.append(f"warnings ({len(loaded.warnings)}):")
    lines.extend(f"  - {warning}" for warning in loaded.warnings)
    return "\n".join(lines) + "\n"


def _server(config: Config) -> str:
    server = config.server
    if server.open:
        access = "OPEN: no client keys, anyone who can reach the port may call"
    else:
        count = len(server.api_keys)
        access = f"{count} client key{'' if count == 1 else 's'}"
    return (
        f"server: {access}; request bodies up to {server.max_body_bytes} bytes;"
        f" up to {server.max_connections} connections per worker; request heads within"
        f" {server.header_timeout:g}s, bodies within {server.body_timeout:g}s; idle connections"
        f" kept {server.keepalive_timeout:g}s; a reply write may take {server.write_timeout:g}s"
    )


def _timeouts(timeouts: Timeouts) -> str:
    return (
        f"timeouts: connect {timeouts.connect:g}s, first byte {timeouts.first_byte:g}s,"
        f" idle {timeouts.idle:g}s, total {timeouts.total:g}s"
    )


def _options(provider: ProviderConfig) -> list[str]:
    """Model filters, key tiers, the temperature rule and rotation tolerance, where set."""
    lines = []
    if provider.ignore_models or provider.allow_models:
        ignore = ", ".join(provider.ignore_models) or "-"
        allow = ", ".join(provider.allow_models) or "-"
        lines.append(f"    models ignored: {ignore}; allowed anyway: {allow}")
    tiers = sorted({key.tier for key in provider.keys})
    if len(tiers) > 1 or provider.tier_multipliers:
        shown = ", ".join(
            f"{tier} x{provider.tier_multipliers.get(tier, 1)}"
            for tier in sorted({*tiers, *provider.tier_multipliers})
        )
        lines.append(f"    key tiers (leased lowest first, concurrency factor): {shown}")
    if provider.temperature_zero != "keep":
        rule = provider.temperature_zero
        if rule == "set":
            rule = f"set to {provider.temperature_zero_value:g}"
        lines.append(f"    temperature 0 in requests: {rule}")
    if provider.rotation_tolerance:
        lines.append(f"    rotation tolerance: {provider.rotation_tolerance:g} (weighted random)")
    return lines


def _provider(provider: ProviderConfig) -> list[str]:
    if provider.passes_any_model:
        listed = ", ".join(provider.listed_models)
        models = "* (any model passed through)" + (f", also listing {listed}" if listed else "")
    else:
        models = ", ".join(provider.models)
    concurrency = (
        "unlimited"
        if provider.max_concurrent_per_key is None
        else str(provider.max_concurrent_per_key)
    )
    aliases = ", ".join(key.alias for key in provider.keys)
    lines = [
        f"  {provider.name}: {provider.kind} at {redact_url(provider.base_url)}",
        f"    models: {models}",
        f"    priority {provider.priority}, rotation {provider.rotation},"
        f" concurrent requests per key: {concurrency}",
        f"    keys ({len(provider.keys)}): {aliases}",
    ]
    lines.extend(_options(provider))
    if provider.headers:
        lines.append(f"    extra headers: {', '.join(provider.headers)} (values hidden)")
    connection = _connection(provider)
    if connection:
        lines.append(f"    connection: {connection}")
    rate_limits = provider.rate_limits
    if rate_limits.limits.configured:
        lines.append(f"    limits per key: {_limits(rate_limits.limits)}")
    lines.extend(
        f"    limits per key for {name}: {_limits(limits)}"
        for name, limits in rate_limits.model_limits.items()
    )
    lines.extend(
        f"    quota group {name}: {', '.join(models)}"
        for name, models in rate_limits.quota_groups.items()
    )
    lines.extend(_cooldowns(provider))
    if provider.prices:
        prices = "; ".join(f"{model} {_price(price)}" for model, price in provider.prices.items())
        lines.append(f"    prices (USD per 1M tokens): {prices}")
    return lines


def _connection(provider: ProviderConfig) -> str:
    """How the upstream is reached, where it differs from the defaults ("" where it does not)."""
    parts = []
    if provider.max_connections != MAX_CONNECTIONS:
        parts.append(f"up to {provider.max_connections} connections")
    if provider.http2:
        parts.append("HTTP/2 offered")
    if provider.proxy is not None:
        parts.append(f"via proxy {redact_url(provider.proxy)}")
    if provider.ca_bundle is not None:
        parts.append(f"trusting the CAs in {provider.ca_bundle}")
    if provider.max_response_bytes != MAX_RESPONSE_BYTES:
        parts.append(f"replies up to {provider.max_response_bytes} bytes")
    if provider.max_event_bytes != MAX_EVENT_BYTES:
        parts.append(f"stream events up to {provider.max_event_bytes} bytes")
    return ", ".join(parts)


def _price(price: Price) -> str:
    """`in 2.5, cached in 1.25, out 10, reasoning 12`: the parts priced, in a fixed order."""
    parts = [f"in {price.input:g}"]
    if price.cached_input is not None:
        parts.append(f"cached in {price.cached_input:g}")
    parts.append(f"out {price.output:g}")
    if price.reasoning is not None:
        parts.append(f"reasoning {price.reasoning:g}")
    return ", ".join(parts)


def _limits(limits: Limits) -> str:
    """`rpm 30, tpd 100000`: the ceilings set, in a fixed order."""
    parts = [
        f"{name} {value}"
        for name, value in (
            ("rpm", limits.rpm),
            ("tpm", limits.tpm),
            ("rpd", limits.rpd),
            ("tpd", limits.tpd),
        )
        if value is not None
    ]
    return ", ".join(parts) or "none"


def _cooldowns(provider: ProviderConfig) -> list[str]:
    """Cooldowns and the daily reset, when they are not the defaults."""
    policy, reset = provider.cooldowns, provider.daily_reset_utc
    if policy == CooldownPolicy() and reset == DAILY_RESET_UTC:
        return []

    def ladder(rungs: tuple[float, ...]) -> str:
        return "/".join(f"{rung:g}" for rung in rungs) + "s"

    lockout = "off"
    if policy.lockout_models is not None:
        lockout = (
            f"after {policy.lockout_models} models in {policy.lockout_within:g}s,"
            f" {ladder(policy.lockout)}"
        )
    day = "roll" if reset is None else f"reset at {reset:%H:%M} UTC"
    return [
        f"    cooldowns: rate limit {ladder(policy.rate_limit)}, auth {ladder(policy.auth)},"
        f" key lockout {lockout}, probe hold {policy.probe_hold:g}s"
        f" (lost after {policy.probe_timeout:g}s); daily quotas {day}"
    ]


def _virtual_model(model: VirtualModel) -> str:
    chain = " -> ".join(target.label for target in model.chain) or "(empty)"
    order = "" if model.order == "listed" else f" (ordered by {model.order})"
    return f"  {model.name}: {chain}{order}"


def _health(config: Config) -> str:
    """`health: GET /models every 30s (timeout 5s); local: off`: the top level, then each
    provider whose own settings differ from it."""

    def probes(settings: HealthSettings) -> str:
        if not settings.interval:
            return "off"
        probe = "GET /models" if settings.probe == "models" else "1-token completions"
        return f"{probe} every {settings.interval:g}s (timeout {settings.timeout:g}s)"

    base = probes(config.health.over(DEFAULT_HEALTH))
    others = [(name, probes(config.health_for(name))) for name in config.providers]
    return "; ".join([f"health: {base}", *(f"{n}: {p}" for n, p in others if p != base)])
