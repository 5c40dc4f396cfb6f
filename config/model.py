"""The resolved configuration: frozen values, secrets hidden from every repr.

`config.loader` builds these from YAML and the environment; nothing here reads files or the
environment. Everything is immutable so actors can share one `Config` without copying.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import time

import attrs

from config.model_catalog import catalog_lookup
from config.model_filter import model_allowed
from config.model_info import CatalogEntry, ModelInfo
from config.settings import EmbeddingsSettings, Rankings, StateSettings
from config.urls import redact_url

ROTATIONS = ("balanced", "sequential")
# `openai`: Chat Completions; `openai-responses`: that, and Responses requests passed through;
# `anthropic`: the Messages API (Chat and Responses calls translated, Messages passed through)
PROVIDER_KINDS = ("openai", "openai-responses", "anthropic")
# Which client protocol a kind of provider takes untranslated
NATIVE_PROTOCOL = {"openai-responses": "responses", "anthropic": "messages"}
ANY_MODEL = "*"
# What a provider does with `temperature: 0` (protocols.temperature)
TEMPERATURE_ZERO_MODES = ("keep", "remove", "set")
# Key tiers: lower numbers are leased first; `paid` and `free` are names for 1 and 2
TIER_NAMES = {"paid": 1, "free": 2}
DEFAULT_TIER = 1
MAX_CONNECTIONS = 1000  # connections to one provider, per process (the OpenAI SDK's own default)
MIB = 1024 * 1024
MAX_RESPONSE_BYTES = 32 * MIB  # a whole non-streamed reply, decoded: far beyond any completion's
MAX_EVENT_BYTES = 1 * MIB  # one line or event of an upstream's event stream


@attrs.frozen
class Timeouts:
    """Seconds. `total` is the end-to-end deadline of one call, across every attempt."""

    connect: float = 10.0
    first_byte: float = 30.0
    idle: float = 120.0
    total: float = 600.0
    keepalive: float = 5.0  # Responses streams: repeat response.in_progress while upstream is slow


@attrs.frozen
class ServerConfig:
    api_keys: tuple[str, ...] = attrs.field(default=(), repr=lambda keys: f"<{len(keys)} keys>")
    max_body_bytes: int = 20 * 1024 * 1024
    shutdown_grace: float = 10.0  # seconds calls and streams in flight get to finish on stop
    header_timeout: float = 10.0  # seconds a request head may take from its first byte
    body_timeout: float = 60.0  # seconds a request body may take to arrive whole (then 408)
    max_connections: int = 2048  # open client connections per worker; more are refused at once
    keepalive_timeout: float = 75.0  # seconds an idle connection is kept (longer than clients')
    write_timeout: float = 60.0  # seconds one reply write may take before the client is gone

    @property
    def open(self) -> bool:
        """No client keys configured: anyone who can reach the port may call."""
        return not self.api_keys


@attrs.frozen
class Credential:
    """One upstream API key. `alias` is what logs, errors and /stats show; never `secret`."""

    alias: str
    secret: str | None = attrs.field(repr=False)
    tier: int = DEFAULT_TIER  # lower tiers are leased first (actors.keypool)

    @classmethod
    def anonymous(cls) -> Credential:
        """The single pseudo-key of a provider that needs none (a local server)."""
        return cls(alias="anonymous", secret=None)


@attrs.frozen
class Limits:
    """Ceilings for one key of a provider: requests and tokens per minute and per (rolling)
    day. None: none configured; the upstream's own rate-limit headers may still hold us back."""

    rpm: int | None = None
    tpm: int | None = None
    rpd: int | None = None
    tpd: int | None = None

    @property
    def configured(self) -> bool:
        return attrs.astuple(self) != (None, None, None, None)

    def over(self, base: Limits) -> Limits:
        """These limits, with `base`'s filling every field left unset here."""
        return Limits(
            rpm=base.rpm if self.rpm is None else self.rpm,
            tpm=base.tpm if self.tpm is None else self.tpm,
            rpd=base.rpd if self.rpd is None else self.rpd,
            tpd=base.tpd if self.tpd is None else self.tpd,
        )

    def share(self, parts: int) -> Limits:
        """One of `parts` equal shares, rounded down but never below 1 (`--workers N`)."""
        return Limits(
            *(None if value is None else max(1, value // parts) for value in attrs.astuple(self))
        )


PROBE_KINDS = ("models", "completion")  # GET /models, or a 1-token chat completion
CHAIN_ORDERS = ("priority", "listed", "latency", "ranked")


@attrs.frozen
class HealthSettings:
    """How a provider is probed (see `config.health`): every `interval` seconds (0: never),
    each probe given `timeout` seconds. None: unset here (a provider's own `health:` falls
    back field by field to the top-level one)."""

    interval: float | None = None
    timeout: float | None = None
    probe: str | None = None

    def over(self, base: HealthSettings) -> HealthSettings:
        """These settings, with `base`'s filling every field left unset here."""
        return HealthSettings(
            interval=base.interval if self.interval is None else self.interval,
            timeout=base.timeout if self.timeout is None else self.timeout,
            probe=base.probe if self.probe is None else self.probe,
        )


DEFAULT_HEALTH = HealthSettings(interval=30.0, timeout=5.0, probe="models")


@attrs.frozen
class RateLimits:
    """A provider's `limits`, `model_limits` and `quota_groups` (see `config.limits`)."""

    limits: Limits = Limits()
    # by model, or by quota group name (a model's own entry wins over its group's)
    model_limits: Mapping[str, Limits] = attrs.field(factory=dict)
    # group name -> models that draw on one shared quota per key (aliases of one upstream model)
    quota_groups: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)

    def quota_group(self, model: str) -> str | None:
        """The quota group `model` belongs to, if any."""
        return next((name for name, models in self.quota_groups.items() if model in models), None)

    def limits_for(self, model: str) -> Limits:
        """The ceilings per key for `model`: its own over its group's over the provider's."""
        limits = self.limits
        group = self.quota_group(model)
        if group is not None and group in self.model_limits:
            limits = self.model_limits[group].over(limits)
        if model in self.model_limits:
            limits = self.model_limits[model].over(limits)
        return limits


@attrs.frozen
class CooldownPolicy:
    """How long a failing key rests, in seconds (see `config.cooldowns`). The n-th rung of a
    ladder follows the n-th consecutive failure; the last rung repeats."""

    rate_limit: tuple[float, ...] = (10.0, 30.0, 60.0, 120.0)  # one key x model (or group)
    auth: tuple[float, ...] = (300.0, 900.0, 3600.0)  # one key, every model
    # rate limits on `lockout_models` distinct models within `lockout_within` lock a key out
    lockout_models: int | None = 3  # None: never
    lockout_within: float = 600.0
    lockout: tuple[float, ...] = (600.0, 1800.0, 3600.0)
    probe_hold: float = 5.0  # while a half-open probe is out, others come back this much later
    probe_timeout: float = 600.0  # a probe not back by then is taken as lost


DAILY_RESET_UTC = time(0, 0)


@attrs.frozen
class Price:
    """What a model's tokens cost, in USD per million (see `config.prices` for how a call's
    cost is reckoned). None: not priced apart (cached input costs `input`, reasoning `output`)."""

    input: float
    output: float
    cached_input: float | None = None
    reasoning: float | None = None


@attrs.frozen
class ProviderConfig:
    name: str
    # A URL may carry a password or a token in its query: the repr masks both.
    base_url: str = attrs.field(repr=lambda url: repr(redact_url(url)))
    keys: tuple[Credential, ...]
    kind: str = "openai"
    models: tuple[str, ...] = (ANY_MODEL,)
    priority: int = 100
    rotation: str = "balanced"
    max_concurrent_per_key: int | None = None
    health: HealthSettings = HealthSettings()  # what this provider sets; see Config.health_for
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    rate_limits: RateLimits = attrs.field(factory=RateLimits)
    cooldowns: CooldownPolicy = attrs.field(factory=CooldownPolicy)
    daily_reset_utc: time | None = DAILY_RESET_UTC  # None: day windows only roll
    prices: Mapping[str, Price] = attrs.field(factory=dict)  # by model; "*": any other
    stream_usage: bool = True  # ask streams for their usage (stream_options.include_usage)
    # How baton reaches the upstream (actors.upstream_client): a cap on open connections, HTTP/2
    # offered by TLS ALPN, an outbound proxy (its password masked in the repr), and a PEM file
    # of CAs to trust instead of the system's (a private upstream's own CA).
    max_connections: int = MAX_CONNECTIONS
    http2: bool = False
    proxy: str | None = attrs.field(
        default=None, repr=lambda url: "None" if url is None else repr(redact_url(url))
    )
    ca_bundle: str | None = None
    # What baton reads from the upstream (actors.exchange): a whole reply, and one line or
    # event of a stream, both decoded; past either the reply is malformed.
    max_response_bytes: int = MAX_RESPONSE_BYTES
    max_event_bytes: int = MAX_EVENT_BYTES
    # Which models are offered (config.model_filter): allow wins over ignore, fnmatch patterns
    ignore_models: tuple[str, ...] = ()
    allow_models: tuple[str, ...] = ()
    # `temperature: 0` in a request: kept, removed, or set to `temperature_zero_value`
    temperature_zero: str = "keep"
    temperature_zero_value: float = 1.0
    # Key tier -> factor on `max_concurrent_per_key` for that tier's keys (1 when absent)
    tier_multipliers: Mapping[int, int] = attrs.field(factory=dict)
    # 0: the least-loaded key, ties in turn; > 0: weighted random (actors.keypool)
    rotation_tolerance: float = 0.0

    @property
    def passes_any_model(self) -> bool:
        return ANY_MODEL in self.models

    @property
    def listed_models(self) -> tuple[str, ...]:
        return tuple(m for m in self.models if m != ANY_MODEL and self.offers(m))

    def offers(self, model: str) -> bool:
        """`model` survives `ignore_models` and `allow_models`."""
        return model_allowed(model, self.ignore_models, self.allow_models)

    def serves(self, model: str) -> bool:
        return (self.passes_any_model or model in self.models) and self.offers(model)

    def price_for(self, model: str) -> Price | None:
        """`model`'s own price, else the provider's `"*"` one; None: not priced."""
        price = self.prices.get(model)
        return self.prices.get(ANY_MODEL) if price is None else price


@attrs.frozen
class Target:
    """One hop of a chain: a provider and the model name it is asked for."""

    provider: str
    model: str

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.model}"

    @classmethod
    def parse(cls, text: str) -> Target:
        """`"groq/openai/gpt-oss-120b"` -> provider `groq`, model `openai/gpt-oss-120b`."""
        provider, sep, model = text.partition("/")
        if not sep or not provider or not model:
            raise ValueError(f"{text!r} is not of the form provider/model")
        return cls(provider=provider, model=model)


@attrs.frozen
class VirtualModel:
    name: str
    chain: tuple[Target, ...]
    order: str = "listed"  # listed | priority | latency (see actors.health_book)


@attrs.frozen
class TelemetrySettings:
    retention_days: float = 30.0  # call records older than this are pruned
    buffer: int = 10_000  # records waiting for the disk; past it they are dropped, and counted


@attrs.frozen
class Config:
    server: ServerConfig = ServerConfig()
    timeouts: Timeouts = Timeouts()
    providers: Mapping[str, ProviderConfig] = attrs.field(factory=dict)
    virtual_models: Mapping[str, VirtualModel] = attrs.field(factory=dict)
    source: str = "built-in defaults"
    health: HealthSettings = DEFAULT_HEALTH  # the top-level `health:`
    telemetry: TelemetrySettings = TelemetrySettings()
    daily_reset_utc: time | None = None  # the top-level one: when "today" starts in /stats
    # `model_aliases:` requested names (or fnmatch wildcards) -> the model that serves them, in
    # the order written: the first pattern that matches wins (config.aliases)
    model_aliases: tuple[tuple[str, str], ...] = ()
    embeddings: EmbeddingsSettings = attrs.field(factory=EmbeddingsSettings)
    state: StateSettings = attrs.field(factory=StateSettings)  # `state:`, `cluster:`
    rankings: Rankings = attrs.field(factory=Rankings)  # `model_rankings:`: `order: ranked`
    # `model_catalog:` entries, in the order written, over the bundled catalog
    model_catalog: tuple[CatalogEntry, ...] = ()

    def shared_by(self, workers: int) -> Config:
        """The config one of `workers` processes serves with: each holds an equal share of
        every configured rate limit and of each key's concurrency (at least 1), so together
        they keep within them (they share no state). With a shared `state:` every worker
        holds the whole of every limit: the shared state keeps them within it together."""
        if workers <= 1 or self.state.shared:
            return self
        providers = {}
        for name, provider in self.providers.items():
            limits = provider.rate_limits
            shared = attrs.evolve(
                limits,
                limits=limits.limits.share(workers),
                model_limits={
                    model: value.share(workers) for model, value in limits.model_limits.items()
                },
            )
            concurrency = provider.max_concurrent_per_key
            if concurrency is not None:
                concurrency = max(1, concurrency // workers)
            providers[name] = attrs.evolve(
                provider, rate_limits=shared, max_concurrent_per_key=concurrency
            )
        return attrs.evolve(self, providers=providers)

    def health_for(self, provider: str) -> HealthSettings:
        """`provider`'s probe settings: its own over the top-level ones, every field set."""
        return self.providers[provider].health.over(self.health).over(DEFAULT_HEALTH)

    def price_for(self, provider: str, model: str) -> Price | None:
        """The price of `model` as served by `provider` (the name it was asked for upstream);
        None when the provider is unknown or prices neither the model nor `"*"`."""
        found = self.providers.get(provider)
        return None if found is None else found.price_for(model)

    def model_info(self, provider: str, model: str) -> ModelInfo | None:
        """What is known of `model` as `provider` serves it: `model_catalog:` over the bundled
        catalog (looked up as `provider/model`, then `model`, ...: `config.model_catalog`), with
        the provider's own `prices:` over the catalog's prices (a cached input it does not price
        apart costs `input`). None: nothing is known."""
        info = catalog_lookup(f"{provider}/{model}", self.model_catalog)
        price = self.price_for(provider, model)
        if price is None:
            return info
        cached = price.input if price.cached_input is None else price.cached_input
        return attrs.evolve(
            info or ModelInfo(),
            input_price=price.input,
            output_price=price.output,
            cached_input_price=cached,
        )


@attrs.frozen
class Loaded:
    """A `Config` and the warnings building it produced, for the caller to show."""

    config: Config
    warnings: tuple[str, ...] = ()
