"""Which upstream models a provider offers: `ignore_models` and `allow_models`.

The rule is LLM-API-Key-Proxy's (`IGNORE_MODELS_<P>`, `WHITELIST_MODELS_<P>`), in its order:

1. a model that matches an `allow_models` pattern is offered, whatever the ignore list says;
2. otherwise a model that matches an `ignore_models` pattern is not;
3. otherwise it is.

So `ignore_models: ["*"]` with an allow list is a pure allow list, and `ignore_models:
["*-preview*"]` with one allowed preview is an exemption. Patterns are `fnmatch` wildcards
(`*`, `?`, `[seq]`), matched case-sensitively against the model id as the upstream names it.
An empty allow list allows nothing by itself; only the ignore list can take models away.
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase


def matches_any(model: str, patterns: Iterable[str]) -> bool:
    return any(fnmatchcase(model, pattern) for pattern in patterns)


def model_allowed(model: str, ignore: Iterable[str], allow: Iterable[str]) -> bool:
    """Allow wins over ignore; a model on neither list is allowed."""
    if matches_any(model, allow):
        return True
    return not matches_any(model, ignore)
