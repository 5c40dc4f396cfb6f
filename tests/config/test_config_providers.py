"""Providers: key pools (listed, dropped, discovered, keyless), aliases, models, defaults."""

from __future__ import annotations

import textwrap

from config import ANY_MODEL, Credential, ProviderConfig, Target, load_text


def provider(
    body: str, env: dict[str, str] | None = None
) -> tuple[ProviderConfig, tuple[str, ...]]:
    text = "providers:\n  alpha:\n    base_url: http://h/v1\n" + textwrap.indent(
        textwrap.dedent(body), "    "
    )
    loaded = load_text(text, env=env or {})
    return loaded.config.providers["alpha"], loaded.warnings


def test_full_provider() -> None:
    alpha, warnings = provider(
        """
        kind: openai
        keys: [k1, "${ALPHA_KEY_2}"]
        models: [m-small, m-large]
        priority: 1
        rotation: sequential
        max_concurrent_per_key: 4
        headers: {HTTP-Referer: https://example.com}
        """,
        env={"ALPHA_KEY_2": "s2"},
    )
    assert alpha == ProviderConfig(
        name="alpha",
        base_url="http://h/v1",
        keys=(Credential("alpha#1", "k1"), Credential("ALPHA_KEY_2", "s2")),
        kind="openai",
        models=("m-small", "m-large"),
        priority=1,
        rotation="sequential",
        max_concurrent_per_key=4,
        headers={"HTTP-Referer": "https://example.com"},
    )
    assert warnings == ()


def test_field_defaults() -> None:
    alpha, _ = provider("keys: [k]\n")
    assert (alpha.kind, alpha.models, alpha.priority) == ("openai", (ANY_MODEL,), 100)
    assert (alpha.rotation, alpha.max_concurrent_per_key, dict(alpha.headers)) == (
        "balanced",
        None,
        {},
    )


def test_null_fields_read_as_omitted() -> None:
    alpha, _ = provider("keys: [k]\npriority: ~\nmax_concurrent_per_key: ~\nmodels:\n")
    assert (alpha.priority, alpha.max_concurrent_per_key, alpha.models) == (100, None, ("*",))


def test_unset_key_is_dropped_with_a_warning_when_others_remain() -> None:
    alpha, warnings = provider(
        'keys: [k1, "${ALPHA_KEY_2}", "${ALPHA_KEY_3}"]\n', {"ALPHA_KEY_3": "s3"}
    )
    assert [key.alias for key in alpha.keys] == ["alpha#1", "ALPHA_KEY_3"]
    assert warnings == ("providers.alpha.keys[1]: ALPHA_KEY_2 is not set; key dropped",)


def test_empty_key_variable_is_dropped_like_an_unset_one() -> None:
    alpha, warnings = provider('keys: ["${A}", "${B}"]\n', {"A": "", "B": "b"})
    assert [key.alias for key in alpha.keys] == ["B"]
    assert warnings == ("providers.alpha.keys[0]: A is empty; key dropped",)


def test_literal_aliases_count_from_one_by_position() -> None:
    alpha, _ = provider('keys: ["${GONE}", lit2, "pre-${X}", lit4]\n', {"X": "x"})
    assert [key.alias for key in alpha.keys] == ["alpha#2", "alpha#3", "alpha#4"]
    assert [key.secret for key in alpha.keys] == ["lit2", "pre-x", "lit4"]


def test_a_bare_string_is_a_single_key() -> None:
    alpha, _ = provider('keys: "${ALPHA_ONLY}"\n', {"ALPHA_ONLY": " s \n"})
    assert alpha.keys == (Credential("ALPHA_ONLY", "s"),)


def test_repeated_keys_are_kept_once() -> None:
    alpha, warnings = provider('keys: [same, "${A}", other]\n', {"A": "same"})
    assert [key.alias for key in alpha.keys] == ["alpha#1", "alpha#3"]
    assert warnings == ("providers.alpha.keys[1]: A is the same key as alpha#1; dropped",)


def test_explicit_empty_keys_means_keyless() -> None:
    alpha, _ = provider("keys: []\n")
    assert alpha.keys == (Credential.anonymous(),)
    assert alpha.keys[0].secret is None


def test_omitted_keys_are_discovered_from_the_environment() -> None:
    env = {"ALPHA_API_KEY_2": "s2", "ALPHA_API_KEY_1": "s1", "ALPHA_API_KEY_9": "s9"}
    alpha, warnings = provider("models: ['*']\n", env)
    assert alpha.keys == (
        Credential("ALPHA_API_KEY_1", "s1"),
        Credential("ALPHA_API_KEY_2", "s2"),
        Credential("ALPHA_API_KEY_9", "s9"),
    )
    assert warnings == ()


def test_discovery_uses_the_normalised_provider_name() -> None:
    text = "providers:\n  my-local.llm: {base_url: 'http://h/v1'}\n"
    loaded = load_text(text, env={"MY_LOCAL_LLM_API_KEY": "s"})
    assert loaded.config.providers["my-local.llm"].keys == (
        Credential("MY_LOCAL_LLM_API_KEY", "s"),
    )


def test_discovered_duplicates_are_dropped() -> None:
    alpha, warnings = provider("priority: 1\n", {"ALPHA_API_KEY": "s", "ALPHA_API_KEY_1": "s"})
    assert alpha.keys == (Credential("ALPHA_API_KEY", "s"),)
    assert warnings == (
        "providers.alpha.keys: ALPHA_API_KEY_1 is the same key as ALPHA_API_KEY; dropped",
    )


def test_models_star_as_a_bare_string_and_duplicates() -> None:
    alpha, _ = provider("keys: [k]\nmodels: '*'\n")
    assert alpha.models == ("*",) and alpha.passes_any_model
    alpha, _ = provider("keys: [k]\nmodels: [a, b, a, '*']\n")
    assert alpha.models == ("a", "b", "*")
    assert alpha.serves("anything") and alpha.listed_models == ("a", "b")


def test_well_known_provider_needs_no_base_url() -> None:
    loaded = load_text("providers:\n  groq: {keys: [k]}\n", env={})
    assert loaded.config.providers["groq"].base_url == "https://api.groq.com/openai/v1"


def test_chain_models_may_contain_slashes_and_star_passes_anything() -> None:
    text = """
    providers:
      alpha: {base_url: 'http://a/v1', keys: [], models: [m-large]}
      groq: {keys: [k]}
    virtual_models:
      coding-elite:
        chain: [alpha/m-large, groq/moonshotai/kimi-k2-instruct]
    """
    loaded = load_text(textwrap.dedent(text), env={})
    chain = loaded.config.virtual_models["coding-elite"].chain
    assert chain == (Target("alpha", "m-large"), Target("groq", "moonshotai/kimi-k2-instruct"))
    assert loaded.warnings == ()


def test_repeated_chain_hop_is_a_warning() -> None:
    text = "providers:\n  a: {base_url: 'http://a', keys: []}\nvirtual_models:\n  v: [a/m, a/m]\n"
    loaded = load_text(text, env={})
    assert loaded.config.virtual_models["v"].chain == (Target("a", "m"), Target("a", "m"))
    assert loaded.warnings == (
        "virtual_models.v.chain[1]: a/m is already in the chain; tried again",
    )


def test_sections_default_when_omitted() -> None:
    loaded = load_text("providers:\n  a: {base_url: 'http://a', keys: []}\n", env={})
    config = loaded.config
    assert config.server.open and config.server.max_body_bytes == 20 * 1024 * 1024
    assert (config.timeouts.connect, config.timeouts.total) == (10.0, 600.0)
    assert config.virtual_models == {}
    assert config.source == "<text>"


def test_empty_document() -> None:
    loaded = load_text("", env={})
    assert loaded.config.providers == {}
    assert loaded.warnings == ("providers: no providers configured",)


def test_server_client_keys() -> None:
    text = "server:\n  api_keys: ['${PROXY_API_KEY}', literal, literal]\n  max_body_bytes: 1000\n"
    server = load_text(text, env={"PROXY_API_KEY": "p"}).config.server
    assert server.api_keys == ("p", "literal") and not server.open
    assert server.max_body_bytes == 1000
    assert load_text("server: {api_keys: []}\n", env={}).config.server.open
