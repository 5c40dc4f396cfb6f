"""The bundled model catalog (`catalog_lookup`) and `model_catalog:` over it
(`Config.model_info`), with a provider's `prices:` over both."""

import pytest

from config import ConfigError, load_text
from config.catalog import DEFAULT_CHAINS
from config.model import Target
from config.model_catalog import BUNDLED, catalog_lookup, names_of
from config.model_info import Capabilities, ModelInfo


@pytest.mark.parametrize(
    ("model", "context", "input_price"),
    [
        ("gpt-4o", 128_000, 2.5),
        ("openai/gpt-4o", 128_000, 2.5),  # a vendor prefix
        ("GPT-4o-2024-08-06", 128_000, 2.5),  # case and a dated variant
        ("gpt-4o-mini-2024-07-18", 128_000, 0.15),  # the narrower pattern first
        ("gpt-5-mini", 400_000, 0.25),
        ("gpt-5", 400_000, 1.25),
        ("o4-mini", 200_000, 1.1),
        ("claude-sonnet-4-5-20250929", 200_000, 3.0),
        ("anthropic/claude-sonnet-4.5", 200_000, 3.0),  # OpenRouter's spelling
        ("claude-haiku-4-5", 200_000, 1.0),
        ("claude-opus-4-1-20250805", 200_000, 15.0),
        ("qwen/qwen3-coder", 262_144, 2.0),
        ("qwen/qwen3-coder:free", 262_144, 2.0),  # an OpenRouter variant
        ("Qwen/Qwen3-Coder-480B-A35B-Instruct-FP8", 262_144, 2.0),
        ("moonshotai/kimi-k2-instruct", 131_072, 1.0),
        ("moonshotai/kimi-k2-instruct-0905", 262_144, 1.0),  # exact before the pattern
        ("groq/openai/gpt-oss-120b", 131_072, 0.15),  # provider, vendor, model
        ("gemini-2.5-flash-lite", 1_048_576, 0.1),
        ("gemini-2.5-flash", 1_048_576, 0.3),
        ("meta/llama-3.3-70b-instruct", 131_072, 0.59),
        ("deepseek-chat", 128_000, 0.28),
        ("text-embedding-3-small", 8_191, 0.02),
    ],
)
def test_lookup_by_name_prefix_case_and_pattern(
    model: str, context: int, input_price: float
) -> None:
    info = catalog_lookup(model)
    assert info is not None
    assert (info.context_window, info.input_price) == (context, input_price)


def test_capabilities_and_unknowns() -> None:
    sonnet = catalog_lookup("claude-sonnet-4-5")
    assert sonnet is not None and sonnet.capabilities == Capabilities(
        tools=True, vision=True, reasoning=True, json_schema=True
    )
    embedding = catalog_lookup("text-embedding-3-large")
    assert embedding is not None and embedding.capabilities.embeddings
    assert embedding.output_price == 0.0 and not embedding.capabilities.tools
    assert catalog_lookup("nomic-embed-text-v1.5") == ModelInfo(
        8_192, None, None, None, None, Capabilities(embeddings=True)
    )
    assert catalog_lookup("no-such-model") is None
    assert catalog_lookup("gpt-4o-audio") is None  # not a dated gpt-4o


def test_every_default_chain_hop_is_in_the_catalog() -> None:
    missing = [
        hop
        for chain in DEFAULT_CHAINS.values()
        for hop in chain
        if catalog_lookup(hop) is None or not catalog_lookup(hop).priced  # type: ignore[union-attr]
    ]
    assert missing == []


def test_names_drop_prefixes_then_variants() -> None:
    assert list(names_of("OpenRouter/Qwen/qwen3-coder:free")) == [
        "openrouter/qwen/qwen3-coder:free",
        "openrouter/qwen/qwen3-coder",
        "qwen/qwen3-coder:free",
        "qwen/qwen3-coder",
        "qwen3-coder:free",
        "qwen3-coder",
    ]


def test_the_table_is_lower_case_and_has_no_duplicates() -> None:
    names = [name for name, _ in BUNDLED]
    assert len(names) == len(set(names))
    assert all(name == name.lower() for name in names)


BASE = """
providers:
  up:
    base_url: "http://127.0.0.1:9/v1"
    keys: [k]
    models: [gpt-4o, my-finetune-v2, mystery, o4-mini]
    prices: {o4-mini: {input: 1.0, output: 4.0}}
"""


def load(catalog: str):
    return load_text(BASE + catalog, env={}).config


def test_config_entries_override_field_by_field_and_extend() -> None:
    config = load(
        "model_catalog:\n"
        "  GPT-4o: {input_price: 2.0, capabilities: {vision: false}}\n"
        '  "my-finetune-*": {context_window: 32768, input_price: 0.5, output_price: 1.5,'
        " capabilities: [tools, json_schema]}\n"
        "  o4-mini: {context_window: 1000, input_price: 99}\n"
    )
    gpt = config.model_info("up", "gpt-4o")
    assert gpt is not None
    assert (gpt.input_price, gpt.output_price, gpt.context_window) == (2.0, 10.0, 128_000)
    assert gpt.capabilities == Capabilities(tools=True, vision=False, json_schema=True)
    tuned = config.model_info("up", "my-finetune-v2")
    assert tuned == ModelInfo(
        32_768, None, 0.5, 1.5, None, Capabilities(tools=True, json_schema=True)
    )
    # the provider's own price wins over the catalog's, both bundled and configured
    o4 = config.model_info("up", "o4-mini")
    assert o4 is not None and o4.context_window == 1000
    assert (o4.input_price, o4.output_price, o4.cached_input_price) == (1.0, 4.0, 1.0)
    assert config.model_info("up", "mystery") is None


def test_the_first_config_entry_that_matches_wins_and_provider_labels_match() -> None:
    config = load('model_catalog:\n  "up/*": {max_output: 7}\n  gpt-4o: {max_output: 9}\n')
    info = config.model_info("up", "gpt-4o")
    assert info is not None and info.max_output == 7
    assert config.model_info("up", "mystery") == ModelInfo(max_output=7)


def test_null_makes_a_bundled_value_unknown() -> None:
    info = load("model_catalog:\n  gpt-4o: {input_price: null}\n").model_info("up", "gpt-4o")
    assert info is not None and info.input_price is None and not info.priced


def test_errors_name_the_path() -> None:
    with pytest.raises(ConfigError) as raised:
        load(
            "model_catalog:\n"
            "  gpt-4o: {context_window: 0, input_price: -1, colour: red}\n"
            "  x: {capabilities: [tools, telepathy]}\n"
            "  y: {capabilities: {vision: maybe}}\n"
            "  z: [1]\n"
        )
    assert [str(problem) for problem in raised.value.problems] == [
        "model_catalog.gpt-4o.colour: unknown key (expected one of context_window, max_output,"
        " input_price, output_price, cached_input_price, capabilities)",
        "model_catalog.gpt-4o.context_window: must be at least 1, got 0",
        "model_catalog.gpt-4o.input_price: must be a number >= 0 (USD per 1M tokens), got -1",
        "model_catalog.x.capabilities[1]: expected one of tools, vision, reasoning, json_schema,"
        " embeddings, got 'telepathy'",
        "model_catalog.y.capabilities.vision: expected true or false, got 'maybe'",
        "model_catalog.z: expected a mapping, got a list",
    ]


def test_model_info_looks_up_a_chain_hop_as_provider_slash_model() -> None:
    target = Target.parse("groq/moonshotai/kimi-k2-instruct")
    info = load("").model_info(target.provider, target.model)  # groq has no prices here
    assert info == catalog_lookup(target.label) == catalog_lookup("kimi-k2-instruct")
    assert info is not None and info.input_price == 1.0
