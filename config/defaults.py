"""The configuration used when there is no `baton.yaml`: whatever the environment enables.

Each well-known provider (`config.catalog`) is enabled by its keys, `<NAME>_API_KEY` and
`<NAME>_API_KEY_<n>`; `<NAME>_BASE_URL` moves it. A provider without keys is simply absent,
except a local one (g4f), which its base URL alone enables, keyless. Client keys come from
`PROXY_API_KEY` (and `PROXY_API_KEY_<n>`); without one the server is open.

LLM-API-Key-Proxy's `.env` works unchanged: `<NAME>_API_BASE` is another name for
`<NAME>_BASE_URL` (the latter wins), and for a name baton does not know it adds a custom
OpenAI-compatible provider of that name in lower case, enabled by its keys as any other. Each
provider then takes the original's per-provider and global variables (`config.original_env`),
and every variable that looks like configuration but is not understood is a warning
(`config.env_lint`).

The four default virtual models always exist, each chain cut down to the enabled providers;
with none enabled they are empty, which is allowed here only, with a warning.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from config.catalog import DEFAULT_CHAINS, KNOWN_PROVIDERS, KnownProvider
from config.env import Environment, discover_keys, env_prefix
from config.env_lint import suspicious_variables
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
    Timeouts,
    VirtualModel,
)
from config.original_env import apply_original_env, original_timeouts
from config.reader import Reader
from config.state import read_state

SOURCE = "built-in defaults"
API_BASE = "_API_BASE"
CUSTOM_PRIORITY = 100
_CUSTOM_NAME = re.compile(r"[A-Z0-9][A-Z0-9_]*")
CLIENT_KEY_PREFIX = "PROXY"


def default_config(environment: Environment) -> Loaded:
    reader = Reader(env=environment.variables, warnings=list(environment.warnings))
    providers: dict[str, ProviderConfig] = {}
    candidates = (*KNOWN_PROVIDERS, *custom_providers(reader.env))
    for known in candidates:
        provider = _enabled(reader, known)
        if provider is not None:
            providers[known.name] = provider
    prefixes = [env_prefix(known.name) for known in candidates]
    providers = {
        name: apply_original_env(reader, provider, prefixes) for name, provider in providers.items()
    }
    timeouts = original_timeouts(reader, Timeouts())
    state = read_state(reader, None, None)  # BATON_STATE_URL
    for warning in suspicious_variables(reader.env, prefixes):
        reader.warn("", warning)
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
        timeouts=timeouts,
        providers=providers,
        virtual_models=virtual_models,
        source=SOURCE,
        state=state,
    )
    return Loaded(config=config, warnings=tuple(reader.warnings))


def _enabled(reader: Reader, known: KnownProvider) -> ProviderConfig | None:
    prefix = env_prefix(known.name)
    url_variable = f"{prefix}_BASE_URL"
    if not reader.env.get(url_variable, "").strip():
        url_variable = f"{prefix}_API_BASE"  # LLM-API-Key-Proxy's name for it
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


def custom_providers(env: Mapping[str, str]) -> list[KnownProvider]:
    """A provider for each `<NAME>_API_BASE` whose name is not a well-known one."""
    known = {env_prefix(provider.name) for provider in KNOWN_PROVIDERS}
    found = []
    for variable, value in sorted(env.items()):
        prefix = variable.removesuffix(API_BASE)
        if prefix != variable and prefix and prefix not in known and value.strip():
            if _CUSTOM_NAME.fullmatch(prefix):
                found.append(KnownProvider(prefix.lower(), "", CUSTOM_PRIORITY))
    return found


def _available(chain: tuple[str, ...], providers: dict[str, ProviderConfig]) -> tuple[Target, ...]:
    targets = (Target.parse(label) for label in chain)
    # a hop the provider's ignore_models take away is dropped, as from a listing
    return tuple(
        target
        for target in targets
        if target.provider in providers and providers[target.provider].serves(target.model)
    )
