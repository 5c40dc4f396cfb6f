"""A provider's `prices:`, and what a call's tokens cost by them.

    providers:
      openai:
        prices:                       # USD per 1M tokens, by the model name sent upstream
          gpt-4.1: {input: 2.0, output: 8.0, cached_input: 0.5}
          o4-mini: {input: 1.1, output: 4.4, cached_input: 0.275, reasoning: 4.4}
          "*": {input: 0.5, output: 1.5}   # any model not priced by name
      groq:
        prices: {"*": {input: 0, output: 0}}   # free: calls count, at $0

`input` and `output` are required, `cached_input` and `reasoning` optional; each is a number
>= 0 (or a `${VAR}` holding one). A priced model must be one the provider lists, unless it
passes any model (`models: ["*"]`). A model without a price, by name or `"*"`, has no cost:
its calls are counted, and their cost is unknown (None), not $0.

How a call is reckoned (`cost_of`). Upstreams count cached tokens inside the input and
reasoning tokens inside the output, so neither is counted twice:
- input: the uncached part (`input - cached`) at `input`, the cached part at `cached_input`
  (at `input` when the model has no `cached_input`);
- output: everything at `output`, unless the model has a `reasoning` price; then the reasoning
  part at `reasoning` and the rest at `output`.
A count the upstream did not report counts as 0 (a detail larger than its whole is cut to the
whole); a call that reported neither input nor output tokens has no cost (None).
"""

from __future__ import annotations

from collections.abc import Collection

from config.limits import not_listed, serves_model
from config.model import ANY_MODEL, Config, Price
from config.reader import Reader, child
from protocols.usage import Usage

PRICE_FIELDS = ("input", "output", "cached_input", "reasoning")
_REQUIRED = ("input", "output")
PER_TOKENS = 1_000_000


def read_prices(
    reader: Reader, value: object, path: str, models: Collection[str] | None
) -> dict[str, Price] | None:
    """Prices by model name (or `"*"`); `models`: what the provider lists (None if that could
    not be read: no checks). None on a problem."""
    section = reader.mapping(value, path)
    if section is None:
        return None
    before = len(reader.problems)
    prices: dict[str, Price] = {}
    for model, body in section.items():
        entry_path = child(path, model)
        if not model.strip():
            reader.fail(entry_path, "empty model name")
            continue
        if models is not None and model != ANY_MODEL and not serves_model(models, model):
            reader.fail(entry_path, not_listed(model, models))
            continue
        price = read_price(reader, body, entry_path)
        if price is not None:
            prices[model] = price
    return prices if len(reader.problems) == before else None


def read_price(reader: Reader, value: object, path: str) -> Price | None:
    fields = reader.mapping(value, path, allowed=PRICE_FIELDS)
    if fields is None:
        return None
    before = len(reader.problems)
    found: dict[str, float] = {}
    for name in PRICE_FIELDS:
        raw = fields.get(name)
        if raw is None:
            if name in _REQUIRED:
                reader.fail(child(path, name), "is required (USD per 1M tokens)")
            continue
        usd = _usd(reader, raw, child(path, name))
        if usd is not None:
            found[name] = usd
    if len(reader.problems) > before:
        return None
    return Price(
        input=found["input"],
        output=found["output"],
        cached_input=found.get("cached_input"),
        reasoning=found.get("reasoning"),
    )


def cost_of(usage: Usage, price: Price | None) -> float | None:
    """USD for `usage` at `price` (the rules are in this module's docstring); None when there
    is no price or the upstream reported no tokens."""
    if price is None or (usage.input is None and usage.output is None):
        return None
    input_tokens, output_tokens = usage.input or 0, usage.output or 0
    cached = min(usage.cached or 0, input_tokens)
    cached_rate = price.input if price.cached_input is None else price.cached_input
    micro = (input_tokens - cached) * price.input + cached * cached_rate
    if price.reasoning is None:
        micro += output_tokens * price.output
    else:
        reasoning = min(usage.reasoning or 0, output_tokens)
        micro += (output_tokens - reasoning) * price.output + reasoning * price.reasoning
    return micro / PER_TOKENS


def _usd(reader: Reader, value: object, path: str) -> float | None:
    """A finite number >= 0."""
    return reader.number(value, path, "must be a number >= 0 (USD per 1M tokens)", minimum=0)


def quoted_price(config: Config, provider: str, model: str) -> tuple[Price | None, str | None]:
    """The price a call to `model` at `provider` is estimated at, and where it comes from: the
    provider's own `prices:` (`"provider"`, reasoning rate included), else the catalog's
    (`config.model_catalog`, over the bundled one: `"catalog"`) when it knows both the input
    and the output price; else `(None, None)`: unknown, never $0."""
    price = config.price_for(provider, model)
    if price is not None:
        return price, "provider"
    info = config.model_info(provider, model)
    if info is None or info.input_price is None or info.output_price is None:
        return None, None
    return Price(info.input_price, info.output_price, info.cached_input_price), "catalog"
