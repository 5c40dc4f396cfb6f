"""The bundled model catalog: context windows, output limits, list prices and capabilities of the
models baton's built-in providers and chains name (`config.catalog`), and other common ones.

Pure data and a lookup. The values are the vendors' published ones at the time of writing
(context and output limits from their model pages, USD per 1M tokens from their price lists;
for an open-weight model, the price of the built-in provider that hosts it in a default chain).
They go stale: a `model_catalog:` section overrides and extends them field by field
(`config.catalog_section`), and a provider's own `prices:` wins over either for what a call
costs (`Config.model_info`).

Lookup (`catalog_lookup`) takes a model name as a provider is sent it, or with a provider or
vendor prefix (`openai/gpt-4o`, `qwen/qwen3-coder`, `groq/moonshotai/kimi-k2-instruct`),
case-insensitively. It tries the whole name, then with each leading `prefix/` dropped in turn,
each also without an OpenRouter variant suffix (`:free`); at each step, first the exact names,
then the fnmatch patterns in table order (so a narrower pattern is written before a wider
one: `gpt-5-mini*` before `gpt-5*`). Config entries are matched the same way and laid over the
bundled match, which is also what an entry for a name the table lacks starts from (nothing).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from fnmatch import fnmatchcase

from config.model_info import Capabilities, CatalogEntry, ModelInfo

WILDCARDS = frozenset("*?[")


def _chat(
    context: int,
    output: int | None,
    input_price: float | None,
    output_price: float | None,
    cached: float | None = None,
    *,
    tools: bool = True,
    vision: bool = False,
    reasoning: bool = False,
    json_schema: bool = False,
) -> ModelInfo:
    capabilities = Capabilities(
        tools=tools, vision=vision, reasoning=reasoning, json_schema=json_schema
    )
    return ModelInfo(context, output, input_price, output_price, cached, capabilities)


def _embedding(context: int, input_price: float | None) -> ModelInfo:
    output_price = None if input_price is None else 0.0  # an embedding has no output tokens
    return ModelInfo(context, None, input_price, output_price, None, Capabilities(embeddings=True))


_GPT_4O = _chat(128_000, 16_384, 2.5, 10.0, 1.25, vision=True, json_schema=True)
_GPT_5 = _chat(400_000, 128_000, 1.25, 10.0, 0.125, vision=True, reasoning=True, json_schema=True)
_O = {"vision": True, "reasoning": True, "json_schema": True}  # o-series
_CLAUDE = {"vision": True, "reasoning": True}  # Claude 3.7 and 4.x: extended thinking
_CLAUDE_45 = {**_CLAUDE, "json_schema": True}  # structured outputs
_GEMINI = {"vision": True, "reasoning": True, "json_schema": True}
_LLAMA_33 = _chat(131_072, 32_768, 0.59, 0.79)
_QWEN3_CODER = _chat(262_144, 65_536, 2.0, 2.0)
_KIMI_K2 = _chat(131_072, 16_384, 1.0, 3.0)
_DEEPSEEK_V31 = _chat(128_000, 8_192, 0.56, 1.68, 0.07, reasoning=True)

# name or pattern (lower case) -> info, in lookup order for the patterns
BUNDLED: tuple[tuple[str, ModelInfo], ...] = (
    # OpenAI
    ("gpt-4o", _GPT_4O),
    ("gpt-4o-mini*", _chat(128_000, 16_384, 0.15, 0.6, 0.075, vision=True, json_schema=True)),
    ("gpt-4o-2024-*", _GPT_4O),
    ("chatgpt-4o-latest", _chat(128_000, 16_384, 5.0, 15.0, tools=False, vision=True)),
    ("gpt-4.1-mini*", _chat(1_047_576, 32_768, 0.4, 1.6, 0.1, vision=True, json_schema=True)),
    ("gpt-4.1-nano*", _chat(1_047_576, 32_768, 0.1, 0.4, 0.025, vision=True, json_schema=True)),
    ("gpt-4.1*", _chat(1_047_576, 32_768, 2.0, 8.0, 0.5, vision=True, json_schema=True)),
    ("gpt-5-mini*", _chat(400_000, 128_000, 0.25, 2.0, 0.025, **_O)),
    ("gpt-5-nano*", _chat(400_000, 128_000, 0.05, 0.4, 0.005, **_O)),
    ("gpt-5-chat*", _chat(128_000, 16_384, 1.25, 10.0, 0.125, vision=True, json_schema=True)),
    ("gpt-5*", _GPT_5),
    ("o3-mini*", _chat(200_000, 100_000, 1.1, 4.4, 0.55, reasoning=True, json_schema=True)),
    ("o3-pro*", _chat(200_000, 100_000, 20.0, 80.0, **_O)),
    ("o3*", _chat(200_000, 100_000, 2.0, 8.0, 0.5, **_O)),
    ("o4-mini*", _chat(200_000, 100_000, 1.1, 4.4, 0.275, **_O)),
    ("gpt-oss-120b*", _chat(131_072, 65_536, 0.15, 0.6, reasoning=True, json_schema=True)),
    ("gpt-oss-20b*", _chat(131_072, 65_536, 0.075, 0.3, reasoning=True, json_schema=True)),
    ("text-embedding-3-small", _embedding(8_191, 0.02)),
    ("text-embedding-3-large", _embedding(8_191, 0.13)),
    ("text-embedding-ada-002", _embedding(8_191, 0.1)),
    # Anthropic ([.-]: OpenRouter writes claude-sonnet-4.5)
    ("claude-opus-4[.-]5*", _chat(200_000, 64_000, 5.0, 25.0, 0.5, **_CLAUDE_45)),
    ("claude-opus-4[.-]1*", _chat(200_000, 32_000, 15.0, 75.0, 1.5, **_CLAUDE_45)),
    ("claude-opus-4*", _chat(200_000, 32_000, 15.0, 75.0, 1.5, **_CLAUDE)),
    ("claude-sonnet-4[.-]5*", _chat(200_000, 64_000, 3.0, 15.0, 0.3, **_CLAUDE_45)),
    ("claude-sonnet-4*", _chat(200_000, 64_000, 3.0, 15.0, 0.3, **_CLAUDE)),
    ("claude-haiku-4[.-]5*", _chat(200_000, 64_000, 1.0, 5.0, 0.1, **_CLAUDE_45)),
    ("claude-3[.-]7-sonnet*", _chat(200_000, 64_000, 3.0, 15.0, 0.3, **_CLAUDE)),
    ("claude-3[.-]5-sonnet*", _chat(200_000, 8_192, 3.0, 15.0, 0.3, vision=True)),
    ("claude-3[.-]5-haiku*", _chat(200_000, 8_192, 0.8, 4.0, 0.08)),
    # Google
    ("gemini-2.5-pro*", _chat(1_048_576, 65_536, 1.25, 10.0, 0.31, **_GEMINI)),
    ("gemini-2.5-flash-lite*", _chat(1_048_576, 65_536, 0.1, 0.4, 0.025, **_GEMINI)),
    ("gemini-2.5-flash*", _chat(1_048_576, 65_536, 0.3, 2.5, 0.075, **_GEMINI)),
    ("gemini-embedding-001", _embedding(2_048, 0.15)),
    ("text-embedding-004", _embedding(2_048, None)),
    # Meta Llama, as Groq, Cerebras, SambaNova, OpenRouter, NVIDIA and Together name it
    ("*llama-3.3-70b*", _LLAMA_33),
    ("*llama-3.1-8b*", _chat(131_072, 131_072, 0.05, 0.08)),
    ("*llama-4-scout*", _chat(131_072, 8_192, 0.11, 0.34, vision=True)),
    ("*llama-4-maverick*", _chat(131_072, 8_192, 0.2, 0.6, vision=True)),
    # Qwen, Moonshot, DeepSeek
    ("qwen3-coder-480b-a35b-instruct*", _QWEN3_CODER),
    ("qwen-3-coder-480b", _QWEN3_CODER),
    ("qwen3-coder", _QWEN3_CODER),
    ("qwen*3-235b-a22b*", _chat(131_072, 32_768, 0.6, 1.2)),
    ("qwen3-32b", _chat(131_072, 40_960, 0.29, 0.59, reasoning=True)),
    ("kimi-k2-instruct-0905", _chat(262_144, 16_384, 1.0, 3.0)),
    ("kimi-k2*", _KIMI_K2),
    ("deepseek-chat", _chat(128_000, 8_192, 0.28, 0.42, 0.028)),
    ("deepseek-reasoner", _chat(128_000, 65_536, 0.28, 0.42, 0.028, reasoning=True)),
    ("deepseek-v3.1*", _DEEPSEEK_V31),
    ("deepseek-chat-v3.1*", _DEEPSEEK_V31),
    # Mistral
    ("devstral-medium*", _chat(131_072, None, 0.4, 2.0)),
    ("devstral-small*", _chat(131_072, None, 0.1, 0.3)),
    ("codestral-embed*", _embedding(8_192, 0.15)),
    ("codestral*", _chat(256_000, None, 0.3, 0.9)),
    ("mistral-large*", _chat(131_072, None, 2.0, 6.0, json_schema=True)),
    ("mistral-medium*", _chat(131_072, None, 0.4, 2.0, vision=True, json_schema=True)),
    ("mistral-small*", _chat(131_072, None, 0.1, 0.3, vision=True, json_schema=True)),
    ("mistral-embed", _embedding(8_192, 0.1)),
    # open embedding models (self-hosted or free tiers: no list price)
    ("nomic-embed-text*", _embedding(8_192, None)),
    ("bge-m3", _embedding(8_192, None)),
    ("bge-*", _embedding(512, None)),
)


def is_pattern(name: str) -> bool:
    return any(character in WILDCARDS for character in name)


_EXACT: Mapping[str, ModelInfo] = {name: info for name, info in BUNDLED if not is_pattern(name)}
_PATTERNS = tuple((name, info) for name, info in BUNDLED if is_pattern(name))


def catalog_lookup(model: str, entries: Sequence[CatalogEntry] = ()) -> ModelInfo | None:
    """What is known of `model`: the bundled entry, with the first matching config entry of
    `entries` laid over it; None when neither knows it."""
    bundled = _bundled(model.strip().lower())
    for entry in entries:
        if _matches(model, entry.pattern):
            return (bundled or ModelInfo()).with_fields(entry.fields)
    return bundled


def names_of(model: str) -> Iterator[str]:
    """The names `model` is looked up by, in order (see the module docstring), lower case."""
    name = model.strip().lower()
    while name:
        yield name
        bare, colon, _ = name.rpartition(":")
        if colon and bare and "/" not in name[len(bare) :]:
            yield bare
        name = name.partition("/")[2]


@functools.lru_cache(maxsize=1024)
def _bundled(model: str) -> ModelInfo | None:
    names = list(names_of(model))
    for name in names:
        if name in _EXACT:
            return _EXACT[name]
    for name in names:
        for pattern, info in _PATTERNS:
            if fnmatchcase(name, pattern):
                return info
    return None


def _matches(model: str, pattern: str) -> bool:
    pattern = pattern.strip().lower()
    names = list(names_of(model))
    if is_pattern(pattern):
        return any(fnmatchcase(name, pattern) for name in names)
    return pattern in names
