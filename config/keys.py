"""A provider's `keys`: its pool of upstream credentials, each with an alias and a tier.

A listed key that names an unset variable is dropped with a warning as long as another key
remains (a pool of five still works with four); if none remains it is an error. Omitting
`keys` means "discover them": `<NAME>_API_KEY`, then `<NAME>_API_KEY_1`, `_2`, ... An explicit
`keys: []` means the provider needs no key at all. A key is a string or a mapping
`{key: ..., tier: paid|free|<n>}` (`config.provider_options`); one listed twice is kept once.

A key from a variable is known by the variable's name (`ALPHA_KEY_2`), a literal one by its
position (`alpha#1`); that alias is all a message ever shows of a key.
"""

from __future__ import annotations

from config.env import discover_keys, env_prefix, expand
from config.model import DEFAULT_TIER, Credential
from config.provider_options import read_tier
from config.reader import Reader, child, kind


def read_keys(
    reader: Reader, provider: str, value: object, path: str
) -> tuple[Credential, ...] | None:
    if value is None:
        found = discovered_credentials(reader, provider, path)
        if not found:
            reader.fail(path, f"no keys given and {env_prefix(provider)}_API_KEY is not set")
            return None
        return found
    items = reader.items(value, path, secret=True)
    if items is None:
        return None
    if not items:
        return (Credential.anonymous(),)

    candidates: list[tuple[str, str, str, int]] = []
    unavailable: list[tuple[str, str]] = []
    for index, item in enumerate(items):
        item_path = f"{path}[{index}]"
        item, tier = _key_and_tier(reader, item, item_path)
        if item is None or tier is None:
            continue
        result = expand(item, reader.env)
        secret = result.value.strip()
        if result.missing:
            unavailable.extend((item_path, f"{name} is not set") for name in result.missing)
        elif not secret and result.variable:
            unavailable.append((item_path, f"{result.variable} is empty"))
        elif not secret:
            reader.fail(item_path, "empty key")
        else:
            alias = result.variable or f"{provider}#{index + 1}"
            candidates.append((item_path, alias, secret, tier))

    for item_path, message in unavailable:
        if candidates:
            reader.warn(item_path, f"{message}; key dropped")
        else:
            reader.fail(item_path, message)
    return _unique(reader, candidates) if candidates else None


def discovered_credentials(reader: Reader, provider: str, path: str) -> tuple[Credential, ...]:
    """Keys from `<NAME>_API_KEY[_N]`, each known by its variable's name; maybe none."""
    found = discover_keys(env_prefix(provider), reader.env)
    return _unique(reader, [(path, variable, secret, DEFAULT_TIER) for variable, secret in found])


def _key_and_tier(reader: Reader, item: object, path: str) -> tuple[str | None, int | None]:
    """A key is a string, or a mapping `{key: ..., tier: paid|free|<n>}`."""
    if isinstance(item, dict):
        fields = reader.mapping(item, path, allowed=("key", "tier"))
        if fields is None:
            return None, None
        if "key" not in fields:
            reader.fail(path, "a key given as a mapping needs `key`")
            return None, None
        tier = read_tier(reader, fields.get("tier", "paid"), child(path, "tier"))
        item = fields["key"]
        path = child(path, "key")
    else:
        tier = DEFAULT_TIER
    if not isinstance(item, str):
        reader.fail(path, f"expected a string, got {kind(item)}")
        return None, None
    return item, tier


def _unique(reader: Reader, candidates: list[tuple[str, str, str, int]]) -> tuple[Credential, ...]:
    """One credential per distinct secret: a key listed twice would double its share."""
    kept: dict[str, tuple[str, int]] = {}
    for path, alias, secret, tier in candidates:
        if secret in kept:
            reader.warn(path, f"{alias} is the same key as {kept[secret][0]}; dropped")
        else:
            kept[secret] = (alias, tier)
    return tuple(
        Credential(alias=alias, secret=secret, tier=tier) for secret, (alias, tier) in kept.items()
    )
