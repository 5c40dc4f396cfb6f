"""Which chain of targets serves a requested model name.

- a virtual model: its configured chain;
- `provider/model` of a configured provider that serves that model: just that target;
- a name `model_aliases:` maps (exactly or by wildcard): the chain of the model it names;
- a bare model name that providers list: every provider listing it, by priority.
Anything else is unknown (404 `model_not_found`). Virtual models and `provider/model` ids come
before aliases, so an alias can add names but never hide one.

`Router.chain_for` is the configuration alone. The order a call actually walks its chain in
is `effective_chain`'s: a virtual model's `order` (listed, priority, latency, or ranked by
`model_rankings:` scores) applied with what the health checker knows, providers known to be
down last.
"""

from __future__ import annotations

import attrs

from actors.health_book import HealthBook, HealthView
from config.aliases import alias_target, is_pattern
from config.model import Config, Target


@attrs.frozen
class Router:
    config: Config

    def chain_for(self, model: str) -> tuple[Target, ...] | None:
        chain = self._own_chain(model)
        if chain is not None:
            return chain
        target = alias_target(self.config.model_aliases, model)
        if target is not None:
            chain = self._own_chain(target)
            return self._listing(target) if chain is None else chain
        return self._listing(model)

    def _own_chain(self, model: str) -> tuple[Target, ...] | None:
        """A virtual model's chain, or a `provider/model` id's one target."""
        virtual = self.config.virtual_models.get(model)
        if virtual is not None:
            return virtual.chain
        provider_name, slash, provider_model = model.partition("/")
        provider = self.config.providers.get(provider_name) if slash else None
        if provider is not None and provider_model and provider.serves(provider_model):
            return (Target(provider_name, provider_model),)
        return None

    def _listing(self, model: str) -> tuple[Target, ...] | None:
        listing = sorted(
            (p for p in self.config.providers.values() if model in p.listed_models),
            key=lambda p: p.priority,
        )
        if listing:
            return tuple(Target(p.name, model) for p in listing)
        return None

    def order_for(self, model: str) -> str:
        """How `model`'s chain is ordered: a virtual model's `order`; `listed` for anything
        else (a bare model's providers are already listed by priority)."""
        virtual = self.config.virtual_models.get(model)
        if virtual is None and self._own_chain(model) is None:
            target = alias_target(self.config.model_aliases, model)
            virtual = None if target is None else self.config.virtual_models.get(target)
        return "listed" if virtual is None else virtual.order

    def ranked(self, chain: tuple[Target, ...]) -> tuple[Target, ...]:
        """`chain` by `model_rankings:` score, highest first; unscored ones after, and ties,
        as listed."""
        scores = [self.config.rankings.score_of(target.label) for target in chain]
        order = sorted(
            range(len(chain)),
            key=lambda index: (scores[index] is None, -(scores[index] or 0.0), index),
        )
        return tuple(chain[index] for index in order)

    def model_ids(self) -> list[str]:
        """Every id `GET /v1/models` lists: virtual models first, the aliases that are plain
        names (a wildcard is no model id), then `provider/model`."""
        ids = list(self.config.virtual_models)
        ids.extend(name for name, _ in self.config.model_aliases if not is_pattern(name))
        for provider in self.config.providers.values():
            ids.extend(f"{provider.name}/{model}" for model in provider.listed_models)
        return ids

    def owner_of(self, model_id: str) -> str:
        if model_id in self.config.virtual_models or "/" not in model_id:
            return "baton"
        return model_id.partition("/")[0]


def effective_chain(
    router: Router, health: HealthBook | HealthView, model: str, now: float
) -> tuple[Target, ...] | None:
    """The chain a call for `model` walks at `now`, in the order to try it: the configured
    chain (`Router.chain_for`; None for an unknown model), ordered by the model's `order`,
    with every provider `health` knows to be down moved to the end (see `HealthBook.order`)."""
    chain = router.chain_for(model)
    if chain is None or len(chain) < 2:
        return chain
    order = router.order_for(model)
    if order == "ranked":
        chain, order = router.ranked(chain), "listed"
    return health.order(chain, order, now)
