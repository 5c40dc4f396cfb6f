"""The configuration used when there is no `baton.yaml`: whatever the environment enables.

Each well-known provider (`config.catalog`) is enabled by its keys, `<NAME>_API_KEY` and
`<NAME>_API_KEY_<n>`; `<NAME>_BASE_URL` moves it. A provider without keys is simply absent,
except a local one (g4f), which its base URL alone enables, keyless. Client keys come from
`PROXY_API_KEY` (and `PROXY_API_KEY_<n>`); without one the server is open.

The four default virtual models always exist, each chain cut down to the enabled providers;
with none enabled they are empty, which is allowed here only, with a warning.
"""

from __future__ import annotations

from config.catalog import DEFAULT_CHAINS, KNOWN_PROVIDERS, KnownProvider
from config.env import Environment, discover_keys, env_prefix
from config.errors import ConfigError
from config.keys import discovered_credentials
from config.model import (
    ANY_MODEL,
    Config,
    Credential,
    Loaded,
    ProviderConfig,
    ServerConfig,
    Target,
    VirtualModel,
)
from config.reader import Reader

SOURCE = "built-in defaults"
CLIENT_KEY_PREFIX = "PROXY"


def default_config(environment: Environment) -> Loaded:
    reader = Reader(env=environment.variables, warnings=list(environment.warnings))
    providers: dict[str, ProviderConfig] = {}
    for known in KNOWN_PROVIDERS:
        provider = _enabled(reader, known)
        if provider is not None:
            providers[known.name] = provider
    if reader.problems:
        raise ConfigError(reader.problems, source=SOURCE)

    virtual_models = {
        name: VirtualModel(name=name, chain=_available(chain, providers))
        for name, chain in DEFAULT_CHAINS.items()
    }
    if not providers:
        examples = ", ".join(f"{env_prefix(k.name)}_API_KEY" for k in KNOWN_PROVIDERS[:3])
        reader.warn(
            "",
            "no provider keys found in the environment (set one such as "
            f"{examples}, or write a baton.yaml); every virtual model is empty",
        )
    client_keys = discover_keys(CLIENT_KEY_PREFIX, environment.variables)
    config = Config(
        server=ServerConfig(api_keys=tuple(dict.fromkeys(key for _, key in client_keys))),
        providers=providers,
        virtual_models=virtual_models,
        source=SOURCE,
    )
    return Loaded(config=config, warnings=tuple(reader.warnings))


def _enabled(reader: Reader, known: KnownProvider) -> ProviderConfig | None:
    url_variable = f"{env_prefix(known.name)}_BASE_URL"
    base_url: str | None = known.base_url
    moved = reader.env.get(url_variable, "").strip()
    if moved:
        base_url = reader.url(moved, url_variable)
    keys = discovered_credentials(reader, known.name, f"providers.{known.name}.keys")
    if not keys and known.local and moved:
        keys = (Credential.anonymous(),)
    if not keys or base_url is None:
        return None
    return ProviderConfig(
        name=known.name,
        base_url=base_url,
        keys=keys,
        models=(ANY_MODEL,),
        priority=known.priority,
        stream_usage=known.stream_usage,
        kind=known.kind,
    )


def _available(chain: tuple[str, ...], providers: dict[str, ProviderConfig]) -> tuple[Target, ...]:
    targets = (Target.parse(label) for label in chain)
    return tuple(target for target in targets if target.provider in providers)
