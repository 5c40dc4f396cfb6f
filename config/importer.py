"""`baton import`: LLM-API-Key-Proxy's `.env` (and its virtual-models fork's YAML files) in, an
explicit baton.yaml out.

The `.env` is read exactly as `baton serve` reads it without a baton.yaml (`config.defaults`,
`config.original_env`), and what that gives is written out field by field, so the output loads
to the same providers, keys, filters, limits and timeouts. Keys are written as `${VARIABLE}`
references, never their values; the `.env` stays where the secrets live.

The fork's files add to that:

- `virtual_models.yaml`: `virtual_models.<name>.fallback_chain` (or `candidates`), a list of
  `{provider, model, priority}`, becomes a chain in priority order (ties as listed);
- `router_config.yaml`: `proxy_api_keys` (as `${VAR}` references) become client keys;
  `providers.<name>` with `env_var` (its key) and `api_base` or a well-known name becomes a
  provider serving its `free_tier_models` when the `.env` did not already enable it; an entry
  with `candidates` under `providers` or `router_models` is a virtual model as above;
- `model_rankings.yaml` becomes `model_rankings:` (its `models:` list's scores, by
  `swe_bench` when entries have it, else by their one score), and a fork virtual model with
  `auto_order: true` gets `order: ranked`, which follows those scores.

Whatever cannot be mapped (a hop to a provider not configured, a setting with no counterpart,
a literal secret) is left out and named in a `# not mapped: ...` comment, so the output always
loads. Pure: documents in, text out; `edge.cli` reads the files.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from config.catalog import KNOWN_BASE_URLS
from config.defaults import CLIENT_KEY_PREFIX, default_config
from config.env import Environment, discover_keys, expand
from config.model import ANY_MODEL, Config, ProviderConfig, Timeouts
from config.model_filter import model_allowed
from config.provider_options import DEFAULT_TEMPERATURE

HEADER = "# baton.yaml imported from LLM-API-Key-Proxy's configuration by `baton import`\n"


def import_original(
    env: Mapping[str, str],
    virtual_models: object = None,
    router: object = None,
    rankings: object = None,
) -> str:
    """The baton.yaml text for these inputs (each YAML document already parsed, or None)."""
    loaded = default_config(Environment(variables=dict(env)))
    config = loaded.config
    skipped = [f".env: {w}" for w in loaded.warnings if w.endswith("; ignored")]
    providers = {name: provider_fields(p) for name, p in config.providers.items()}
    client_keys = [f"${{{name}}}" for name, _ in discover_keys(CLIENT_KEY_PREFIX, env)]
    chains = {
        name: [target.label for target in vm.chain]
        for name, vm in config.virtual_models.items()
        if vm.chain
    }
    if isinstance(router, dict):
        _router(router, env, providers, client_keys, chains, skipped)
    ranked: set[str] = set()  # the fork's `auto_order: true` models
    if isinstance(virtual_models, dict):
        section = virtual_models.get("virtual_models", virtual_models)
        for name, body in (section or {}).items():
            _virtual_model(f"virtual_models.yaml: {name}", name, body, providers, chains, skipped)
            if isinstance(body, dict) and body.get("auto_order"):
                ranked.add(name.replace("/", "-"))
    model_rankings = _rankings(rankings, skipped) if rankings is not None else None
    document: dict[str, Any] = {}
    if client_keys:
        document["server"] = {"api_keys": list(dict.fromkeys(client_keys))}
    timeouts = _timeouts(config)
    if timeouts:
        document["timeouts"] = timeouts
    document["providers"] = providers
    document["virtual_models"] = {
        name: {"chain": chain, **({"order": "ranked"} if name in ranked and model_rankings else {})}
        for name, chain in chains.items()
    }
    if model_rankings:
        document["model_rankings"] = model_rankings
    dumped: str = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    text = HEADER + dumped
    return text + "".join(f"# not mapped: {line}\n" for line in skipped)


def _rankings(document: object, skipped: list[str]) -> dict[str, Any] | None:
    """The fork's `model_rankings.yaml` as baton's `model_rankings:` (inline scores)."""
    models = document.get("models") if isinstance(document, dict) else None
    if not isinstance(models, list):
        skipped.append("model_rankings.yaml (no `models:` list)")
        return None
    entries = [m for m in models if isinstance(m, dict) and isinstance(m.get("scores"), dict)]
    names = {key for entry in entries for key in entry["scores"]}
    metric = "swe_bench" if "swe_bench" in names else next(iter(names)) if len(names) == 1 else None
    if metric is None:
        skipped.append(f"model_rankings.yaml (scores {sorted(names)}: no swe_bench to rank by)")
        return None
    scores: dict[str, float] = {}
    for entry in entries:
        value = entry["scores"].get(metric)
        if isinstance(entry.get("id"), str) and isinstance(value, int | float):
            scores[entry["id"]] = float(value)
        else:
            skipped.append(f"model_rankings.yaml: {entry.get('id')} (no {metric} score)")
    return {"scores": scores} if scores else None


def provider_fields(provider: ProviderConfig) -> dict[str, Any]:
    """Every field of `provider` the `.env` can set, as baton.yaml writes it."""
    fields: dict[str, Any] = {"base_url": provider.base_url}
    if provider.kind != "openai":
        fields["kind"] = provider.kind
    keys: list[Any] = []
    for key in provider.keys:
        reference = f"${{{key.alias}}}"
        keys.append(reference if key.tier == 1 else {"key": reference, "tier": key.tier})
    fields["keys"] = [] if provider.keys and provider.keys[0].secret is None else keys
    if provider.models != (ANY_MODEL,):
        fields["models"] = list(provider.models)
    fields["priority"] = provider.priority
    fields["rotation"] = provider.rotation
    if provider.max_concurrent_per_key is not None:
        fields["max_concurrent_per_key"] = provider.max_concurrent_per_key
    if provider.tier_multipliers:
        fields["tier_multipliers"] = dict(provider.tier_multipliers)
    if provider.rotation_tolerance:
        fields["rotation_tolerance"] = provider.rotation_tolerance
    if provider.ignore_models:
        fields["ignore_models"] = list(provider.ignore_models)
    if provider.allow_models:
        fields["allow_models"] = list(provider.allow_models)
    if provider.temperature_zero != "keep":
        custom = provider.temperature_zero_value != DEFAULT_TEMPERATURE
        fields["temperature_zero"] = (
            provider.temperature_zero_value if custom else provider.temperature_zero
        )
    if provider.rate_limits.quota_groups:
        groups = provider.rate_limits.quota_groups
        fields["quota_groups"] = {name: list(models) for name, models in groups.items()}
    if not provider.stream_usage:
        fields["stream_usage"] = False
    return fields


def _timeouts(config: Config) -> dict[str, float]:
    default = Timeouts()
    names = ("connect", "first_byte", "idle", "total")
    return {
        n: getattr(config.timeouts, n)
        for n in names
        if getattr(config.timeouts, n) != getattr(default, n)
    }


def _router(
    router: dict[str, Any],
    env: Mapping[str, str],
    providers: dict[str, dict[str, Any]],
    client_keys: list[str],
    chains: dict[str, list[str]],
    skipped: list[str],
) -> None:
    for index, key in enumerate(router.get("proxy_api_keys") or []):
        if isinstance(key, str) and expand(key, {}).variable is not None:
            client_keys.append(key.strip())
        else:
            skipped.append(
                f"router_config.yaml: proxy_api_keys[{index}] (a literal key: put it in a variable)"
            )
    entries = dict(router.get("providers") or {})
    entries.update(router.get("router_models") or {})
    for name, body in entries.items():
        where = f"router_config.yaml: {name}"
        if not isinstance(body, dict):
            continue
        if "candidates" in body or "fallback_chain" in body:
            _virtual_model(where, name, body, providers, chains, skipped)
        elif name not in providers:
            _router_provider(where, name, body, env, providers, skipped)
    for section in router:
        if section not in ("proxy_api_keys", "providers", "router_models"):
            skipped.append(f"router_config.yaml: {section} (no counterpart)")


def _router_provider(
    where: str,
    name: str,
    body: dict[str, Any],
    env: Mapping[str, str],
    providers: dict[str, dict[str, Any]],
    skipped: list[str],
) -> None:
    variable, base_url = body.get("env_var"), body.get("api_base") or KNOWN_BASE_URLS.get(name)
    if body.get("enabled") is False:
        skipped.append(f"{where} (disabled)")
    elif not isinstance(variable, str) or not env.get(variable, "").strip():
        skipped.append(f"{where} (no key: env_var {variable or 'missing'} is not set)")
    elif not isinstance(base_url, str) or "{" in base_url:
        skipped.append(f"{where} (no usable api_base)")
    else:
        fields: dict[str, Any] = {"base_url": base_url.rstrip("/"), "keys": [f"${{{variable}}}"]}
        models = [m for m in body.get("free_tier_models") or [] if isinstance(m, str)]
        if models:
            fields["models"] = models
        providers[name] = fields


def _priority(hop: dict[str, Any]) -> int:
    priority = hop.get("priority")
    return priority if isinstance(priority, int) else 1_000_000


def _virtual_model(
    where: str,
    name: str,
    body: object,
    providers: Mapping[str, dict[str, Any]],
    chains: dict[str, list[str]],
    skipped: list[str],
) -> None:
    if not isinstance(body, dict):
        skipped.append(f"{where} (not a mapping)")
        return
    hops = body.get("fallback_chain", body.get("candidates")) or []
    ranked = sorted((hop for hop in hops if isinstance(hop, dict)), key=_priority)
    chain: list[str] = []
    for hop in ranked:
        label = f"{hop.get('provider')}/{hop.get('model')}"
        fields = providers.get(str(hop.get("provider")))
        models = (fields or {}).get("models")
        if fields is None or not hop.get("model"):
            skipped.append(f"{where}: {label} (provider not configured)")
        elif models is not None and hop["model"] not in models:
            skipped.append(f"{where}: {label} (not among the provider's models)")
        elif not model_allowed(
            hop["model"], fields.get("ignore_models", ()), fields.get("allow_models", ())
        ):
            skipped.append(f"{where}: {label} (taken away by ignore_models)")
        elif label not in chain:
            chain.append(label)
    extra = sorted(set(body) - {"fallback_chain", "candidates", "description", "auto_order"})
    if extra:
        skipped.append(f"{where}: {', '.join(extra)} (no counterpart)")
    if chain and "/" in name:
        skipped.append(f"{where} (renamed {name.replace('/', '-')}: no '/' in a baton name)")
        name = name.replace("/", "-")
    if chain:
        chains[name] = chain
    else:
        skipped.append(f"{where} (no hop could be mapped)")
