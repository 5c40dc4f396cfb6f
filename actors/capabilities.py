"""Whether a candidate can take a request at all, from what the model catalog knows of it.

A candidate that cannot (a request with tools for a model without function calling, images
for one without vision, `json_schema` output, an embeddings request for a chat model or the
other way round, a prompt clearly over its context window) is passed over before any call:
it would only refuse, and a refusal is a caller fault that ends the walk (or, worse, a model
that ignores the tools answers without them). The route shows it as `=skip:<reason>`.

Only what the catalog knows is held against a model: one the catalog (bundled, or
`model_catalog:`) does not list is tried as before. `Needs` come from `protocols.needs`.
"""

from __future__ import annotations

from config.model import Config, Target
from config.model_catalog import catalog_lookup
from config.model_info import ModelInfo
from protocols.needs import Needs


def skip_reason(needs: Needs, info: ModelInfo | None) -> str | None:
    """Why a model of `info` cannot take a request with `needs`; None if it may."""
    if info is None:
        return None
    capabilities = info.capabilities
    if needs.embeddings and not capabilities.embeddings:
        return "not_embeddings"
    if not needs.embeddings and capabilities.embeddings:
        return "embeddings_only"
    if needs.tools and not capabilities.tools:
        return "tools"
    if needs.vision and not capabilities.vision:
        return "vision"
    if needs.json_schema and not capabilities.json_schema:
        return "json_schema"
    if info.context_window is not None and needs.prompt_tokens > info.context_window:
        return "context_window"
    return None


def target_skip(config: Config, target: Target, needs: Needs) -> str | None:
    """`skip_reason` for `target`, by what the catalog lists for it (prices alone say
    nothing of what a model can do)."""
    return skip_reason(needs, catalog_info(config, target))


# lookups by catalog, then target; each value holds its catalog, so that catalog's id is not
# reused by another while the entry lives
_known: dict[tuple[int, Target], tuple[object, ModelInfo | None]] = {}
KNOWN_LIMIT = 4096


def catalog_info(config: Config, target: Target) -> ModelInfo | None:
    """The catalog's entry for `target`, looked up once per config (a lookup tries several
    names against every pattern: not a cost to pay on each call)."""
    catalog = config.model_catalog
    key = (id(catalog), target)
    known = _known.get(key)
    if known is None:
        if len(_known) >= KNOWN_LIMIT:
            _known.clear()
        info = catalog_lookup(f"{target.provider}/{target.model}", catalog)
        known = _known[key] = (catalog, info)
    return known[1]
