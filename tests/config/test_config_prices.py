"""A provider's `prices:`: reading, errors that name the path, lookups, and what calls cost."""

from __future__ import annotations

import textwrap

import pytest

from config import ConfigError, Loaded, Price, cost_of, describe, load_text
from protocols.usage import Usage

HEAD = "providers:\n  alpha:\n    base_url: http://h/v1\n    keys: [k]\n"


def load(body: str, env: dict[str, str] | None = None) -> Loaded:
    return load_text(HEAD + textwrap.indent(textwrap.dedent(body), "    "), env=env or {})


def problems(body: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(body, env)
    return [str(problem) for problem in caught.value.problems]


PRICED = """
models: [m-large, m-small, o-mini]
prices:
  m-large: {input: 2.5, output: 10, cached_input: 1.25}
  o-mini: {input: 1.1, output: 4.4, reasoning: 6}
  "*": {input: 0, output: 0}
"""


def test_prices_read_into_frozen_values() -> None:
    prices = load(PRICED).config.providers["alpha"].prices
    assert dict(prices) == {
        "m-large": Price(input=2.5, output=10.0, cached_input=1.25),
        "o-mini": Price(input=1.1, output=4.4, reasoning=6.0),
        "*": Price(input=0.0, output=0.0),
    }


def test_lookup_by_model_then_star() -> None:
    config = load(PRICED).config
    assert config.price_for("alpha", "m-large") == Price(2.5, 10.0, 1.25)
    assert config.price_for("alpha", "m-small") == Price(0.0, 0.0)  # the "*" price
    assert config.price_for("beta", "m-large") is None  # no such provider


def test_no_prices_no_price() -> None:
    config = load("models: [m]\n").config
    assert dict(config.providers["alpha"].prices) == {}
    assert config.price_for("alpha", "m") is None
    assert config.providers["alpha"].price_for("m") is None


def test_prices_may_come_from_the_environment() -> None:
    config = load(
        'models: ["*"]\nprices: {any-model: {input: "${IN}", output: 3}}\n', {"IN": "0.25"}
    ).config
    assert config.price_for("alpha", "any-model") == Price(input=0.25, output=3.0)
    assert config.price_for("alpha", "other") is None


def test_price_values_must_be_numbers_at_least_zero() -> None:
    body = """
    models: [llama]
    prices:
      llama: {input: -1, output: cheap, cached_input: .nan, reasoning: true}
    """
    assert problems(body) == [
        "providers.alpha.prices.llama.input: must be a number >= 0 (USD per 1M tokens), got -1",
        "providers.alpha.prices.llama.output: must be a number >= 0 (USD per 1M tokens),"
        " got 'cheap'",
        "providers.alpha.prices.llama.cached_input: must be a number >= 0 (USD per 1M tokens),"
        " got nan",
        "providers.alpha.prices.llama.reasoning: must be a number >= 0 (USD per 1M tokens),"
        " got True",
    ]


def test_input_and_output_are_required() -> None:
    assert problems("models: [m]\nprices: {m: {cached_input: 1}}\n") == [
        "providers.alpha.prices.m.input: is required (USD per 1M tokens)",
        "providers.alpha.prices.m.output: is required (USD per 1M tokens)",
    ]


def test_price_shape_errors() -> None:
    assert problems("models: [m]\nprices: [m]\n") == [
        "providers.alpha.prices: expected a mapping, got a list"
    ]
    assert problems("models: [m]\nprices: {m: 3}\n") == [
        "providers.alpha.prices.m: expected a mapping, got an integer"
    ]
    assert problems("models: [m]\nprices: {m: {input: 1, output: 1, cached: 1}}\n") == [
        "providers.alpha.prices.m.cached: unknown key (did you mean 'cached_input'?)"
    ]
    assert problems("models: [m]\nprices: {m: {input: '${NOPE}', output: 1}}\n") == [
        "providers.alpha.prices.m.input: NOPE is not set"
    ]


def test_a_priced_model_must_be_listed() -> None:
    assert problems("models: [m]\nprices: {typo: {input: 1, output: 1}}\n") == [
        "providers.alpha.prices.typo: the provider does not list model 'typo' (it lists m)"
    ]


def test_a_provider_with_bad_prices_does_not_also_break_its_chains() -> None:
    text = HEAD + "    models: [m]\n    prices: {m: {input: x, output: 1}}\n"
    text += "virtual_models:\n  v: [alpha/m]\n"
    with pytest.raises(ConfigError) as caught:
        load_text(text, env={})
    assert [p.path for p in caught.value.problems] == ["providers.alpha.prices.m.input"]


def test_describe_lists_prices() -> None:
    summary = describe(load(PRICED))
    assert (
        "    prices (USD per 1M tokens): m-large in 2.5, cached in 1.25, out 10;"
        " o-mini in 1.1, out 4.4, reasoning 6; * in 0, out 0\n"
    ) in summary
    assert "prices" not in describe(load("models: [m]\n"))


# cost_of: exact numbers. Each numerator is a whole number of micro-dollars, so the float
# result is the nearest double to the decimal written here.


def test_cost_of_plain_input_and_output() -> None:
    price = Price(input=2.5, output=10.0)
    assert cost_of(Usage(input=1_000_000, output=0), price) == 2.5
    assert cost_of(Usage(input=1200, output=300), price) == 0.006  # 3000 + 3000 micro-USD


def test_cached_input_at_its_own_price() -> None:
    price = Price(input=2.5, output=10.0, cached_input=1.25)
    # 176 uncached * 2.5 + 1024 cached * 1.25 + 300 * 10 = 440 + 1280 + 3000
    assert cost_of(Usage(input=1200, output=300, cached=1024), price) == 0.00472


def test_cached_input_without_its_own_price_is_input() -> None:
    price = Price(input=2.5, output=10.0)
    assert cost_of(Usage(input=1200, output=300, cached=1024), price) == 0.006


def test_reasoning_is_output_unless_priced_apart() -> None:
    usage = Usage(input=1000, output=500, reasoning=400)
    assert cost_of(usage, Price(input=1.0, output=4.0)) == 0.003  # 1000 + 2000
    # 1000 + 100 visible * 4 + 400 reasoning * 6 = 1000 + 400 + 2400
    assert cost_of(usage, Price(input=1.0, output=4.0, reasoning=6.0)) == 0.0038


def test_details_larger_than_their_whole_are_cut() -> None:
    price = Price(input=2.0, output=8.0, cached_input=1.0, reasoning=16.0)
    # cached 50 of 10 input -> 10 at 1.0; reasoning 9 of 5 output -> 5 at 16
    assert cost_of(Usage(input=10, output=5, cached=50, reasoning=9), price) == 0.00009


def test_unknown_counts_count_as_zero_but_nothing_known_is_no_cost() -> None:
    price = Price(input=2.0, output=8.0)
    assert cost_of(Usage(output=1000), price) == 0.008
    assert cost_of(Usage(input=1000), price) == 0.002
    assert cost_of(Usage(cached=10, reasoning=10), price) is None
    assert cost_of(Usage(), price) is None


def test_no_price_is_no_cost_and_free_is_zero() -> None:
    assert cost_of(Usage(input=10, output=10), None) is None
    assert cost_of(Usage(input=10, output=10), Price(input=0.0, output=0.0)) == 0.0
