"""Well-known OpenAI-compatible providers and the default virtual models over them.

Pure data. `config.defaults` enables the providers whose keys are in the environment and cuts
each chain down to them; a YAML file may name a provider listed here without its `base_url`.

Chains run strongest (or fastest) first; the free, fast tiers (Groq, Cerebras, Gemini,
SambaNova) also carry the lowest priority numbers, so they are preferred where order is free.
Model ids are what each provider's own `/models` endpoint lists.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs


@attrs.frozen
class KnownProvider:
    name: str
    base_url: str
    priority: int
    # A local server: `<NAME>_BASE_URL` alone enables it, with no key.
    local: bool = False
    # Ask streams for a usage chunk (`stream_options.include_usage`). Mistral sends usage in
    # its last chunk unasked, and its strict schema is not known to take the option.
    stream_usage: bool = True
    kind: str = "openai"  # how baton speaks to it (config.model.PROVIDER_KINDS)


KNOWN_PROVIDERS: tuple[KnownProvider, ...] = (
    KnownProvider("groq", "https://api.groq.com/openai/v1", 10),
    KnownProvider("cerebras", "https://api.cerebras.ai/v1", 10),
    KnownProvider("gemini", "https://generativelanguage.googleapis.com/v1beta/openai", 20),
    KnownProvider("sambanova", "https://api.sambanova.ai/v1", 20),
    KnownProvider("mistral", "https://api.mistral.ai/v1", 30, stream_usage=False),
    KnownProvider("nvidia", "https://integrate.api.nvidia.com/v1", 30),
    KnownProvider("openrouter", "https://openrouter.ai/api/v1", 40),
    KnownProvider("together", "https://api.together.xyz/v1", 50),
    KnownProvider("deepseek", "https://api.deepseek.com/v1", 50),
    KnownProvider("openai", "https://api.openai.com/v1", 60),
    KnownProvider("anthropic", "https://api.anthropic.com/v1", 60, kind="anthropic"),
    KnownProvider("g4f", "http://127.0.0.1:1337/v1", 90, local=True),
)

KNOWN_BASE_URLS: Mapping[str, str] = {known.name: known.base_url for known in KNOWN_PROVIDERS}
KNOWN_KINDS: Mapping[str, str] = {known.name: known.kind for known in KNOWN_PROVIDERS}

DEFAULT_CHAINS: Mapping[str, tuple[str, ...]] = {
    "coding-elite": (
        "openai/gpt-5",
        "anthropic/claude-sonnet-4-5",
        "gemini/gemini-2.5-pro",
        "cerebras/qwen-3-coder-480b",
        "groq/moonshotai/kimi-k2-instruct",
        "openrouter/qwen/qwen3-coder",
        "deepseek/deepseek-chat",
        "mistral/devstral-medium-latest",
        "nvidia/qwen/qwen3-coder-480b-a35b-instruct",
        "together/Qwen/Qwen3-Coder-480B-A35B-Instruct-FP8",
        "sambanova/DeepSeek-V3.1",
        "g4f/gpt-4o",
    ),
    "coding-fast": (
        "groq/openai/gpt-oss-120b",
        "cerebras/gpt-oss-120b",
        "gemini/gemini-2.5-flash",
        "mistral/codestral-latest",
        "sambanova/gpt-oss-120b",
        "openrouter/openai/gpt-oss-120b",
        "nvidia/openai/gpt-oss-120b",
        "together/openai/gpt-oss-120b",
        "openai/gpt-5-mini",
        "anthropic/claude-haiku-4-5",
        "deepseek/deepseek-chat",
        "g4f/gpt-4o-mini",
    ),
    "chat-smart": (
        "openai/gpt-5",
        "anthropic/claude-sonnet-4-5",
        "gemini/gemini-2.5-pro",
        "deepseek/deepseek-chat",
        "groq/moonshotai/kimi-k2-instruct",
        "cerebras/qwen-3-235b-a22b-instruct-2507",
        "openrouter/deepseek/deepseek-chat-v3.1",
        "mistral/mistral-large-latest",
        "nvidia/deepseek-ai/deepseek-v3.1",
        "together/deepseek-ai/DeepSeek-V3.1",
        "sambanova/DeepSeek-V3.1",
        "g4f/gpt-4o",
    ),
    "chat-fast": (
        "groq/llama-3.3-70b-versatile",
        "cerebras/llama-3.3-70b",
        "gemini/gemini-2.5-flash",
        "sambanova/Meta-Llama-3.3-70B-Instruct",
        "mistral/mistral-small-latest",
        "openrouter/meta-llama/llama-3.3-70b-instruct",
        "nvidia/meta/llama-3.3-70b-instruct",
        "together/meta-llama/Llama-3.3-70B-Instruct-Turbo",
        "openai/gpt-4.1-mini",
        "anthropic/claude-haiku-4-5",
        "deepseek/deepseek-chat",
        "g4f/gpt-4o-mini",
    ),
}
