"""The resolved configuration: frozen values, secrets hidden from every repr.

`config.loader` builds these from YAML and the environment; nothing here reads files or the
environment. Everything is immutable so actors can share one `Config` without copying.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

import attrs

ROTATIONS = ("balanced", "sequential")
PROVIDER_KINDS = ("openai", "openai-responses")  # the latter also gets Responses passed through
ANY_MODEL = "*"


def redact_url(url: str) -> str:
    """The URL with any password and query string hidden: either may carry a credential."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<malformed URL>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    query = "***" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


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

    @property
    def open(self) -> bool:
        """No client keys configured: anyone who can reach the port may call."""
        return not self.api_keys


@attrs.frozen
class Credential:
    """One upstream API key. `alias` is what logs, errors and /stats show; never `secret`."""

    alias: str
    secret: str | None = attrs.field(repr=False)

    @classmethod
    def anonymous(cls) -> Credential:
        """The single pseudo-key of a provider that needs none (a local server)."""
        return cls(alias="anonymous", secret=None)


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
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=False)

    @property
    def passes_any_model(self) -> bool:
        return ANY_MODEL in self.models

    @property
    def listed_models(self) -> tuple[str, ...]:
        return tuple(m for m in self.models if m != ANY_MODEL)

    def serves(self, model: str) -> bool:
        return self.passes_any_model or model in self.models


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


@attrs.frozen
class Config:
    server: ServerConfig = ServerConfig()
    timeouts: Timeouts = Timeouts()
    providers: Mapping[str, ProviderConfig] = attrs.field(factory=dict)
    virtual_models: Mapping[str, VirtualModel] = attrs.field(factory=dict)
    source: str = "built-in defaults"


@attrs.frozen
class Loaded:
    """A `Config` and the warnings building it produced, for the caller to show."""

    config: Config
    warnings: tuple[str, ...] = ()
