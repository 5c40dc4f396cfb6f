"""The top-level `model_aliases:` section: requested model names that another model serves.

Clients that cannot be told which model to ask for send their own names: Claude Code asks for
`claude-sonnet-4-5` and, for background work, a haiku model. An alias maps such a name, or an
`fnmatch` wildcard (`claude-*-haiku*`), to a model baton serves (a virtual model, `provider/model`,
or a model name providers list):

```yaml
model_aliases:
  "claude-*-haiku*": coding-fast
  "claude-*": coding-elite
```

Patterns are tried in the order written and the first that matches wins, so the narrower one
goes first. A name that is itself a virtual model or a `provider/model` id never goes through
an alias (`actors.routing.Router`): an alias adds names, it cannot hide one. Its target is
checked here, so a typo is a start-up error naming the path, not a 404 at the first call.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from fnmatch import fnmatchcase

from config.model import ProviderConfig, Target, VirtualModel
from config.reader import Reader, child, kind

WILDCARDS = frozenset("*?[")


def is_pattern(name: str) -> bool:
    return any(character in WILDCARDS for character in name)


def alias_target(aliases: tuple[tuple[str, str], ...], model: str) -> str | None:
    """The model `model` is an alias of (the first matching pattern's), or None."""
    for pattern, target in aliases:
        if pattern == model or (is_pattern(pattern) and fnmatchcase(model, pattern)):
            return target
    return None


def read_model_aliases(
    reader: Reader,
    value: object,
    virtual_models: Mapping[str, VirtualModel],
    providers: Mapping[str, ProviderConfig],
    declared: Collection[str],
    path: str = "model_aliases",
) -> tuple[tuple[str, str], ...]:
    """`declared`: every provider named in the document (one that failed to read is not
    reported again through its aliases)."""
    aliases: list[tuple[str, str]] = []
    for name, target in (reader.mapping(value, path) or {}).items():
        alias_path = child(path, name)
        if not name.strip():
            reader.fail(alias_path, "an alias must be a non-empty name or pattern")
            continue
        if not isinstance(target, str) or not target.strip():
            reader.fail(
                alias_path, f"expected the name of a model baton serves, got {kind(target)}"
            )
            continue
        target = target.strip()
        if not _served(target, virtual_models, providers, declared):
            reader.fail(
                alias_path,
                f"{target!r} is neither a virtual model, a configured provider/model"
                " nor a model that providers list",
            )
            continue
        aliases.append((name, target))
    return tuple(aliases)


def _served(
    target: str,
    virtual_models: Mapping[str, VirtualModel],
    providers: Mapping[str, ProviderConfig],
    declared: Collection[str],
) -> bool:
    if target in virtual_models:
        return True
    if any(target in provider.listed_models for provider in providers.values()):
        return True  # a bare model name its providers list
    try:
        parsed = Target.parse(target)
    except ValueError:
        return False
    provider = providers.get(parsed.provider)
    if provider is None:
        return parsed.provider in declared and parsed.provider not in providers
    return provider.serves(parsed.model)
