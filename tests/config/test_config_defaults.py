"""The built-in configuration: providers enabled by their keys, chains cut down to them; and
how `load` finds a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import Config, ConfigError, Credential, Target, load
from config.catalog import DEFAULT_CHAINS, KNOWN_PROVIDERS

VIRTUAL_MODELS = ["coding-elite", "coding-fast", "chat-smart", "chat-fast"]


def defaults(env: dict[str, str], tmp_path: Path) -> tuple[Config, tuple[str, ...]]:
    loaded = load(None, env=env, cwd=tmp_path)
    return loaded.config, loaded.warnings


def test_nothing_set_gives_empty_virtual_models_and_a_warning(tmp_path: Path) -> None:
    config, warnings = defaults({}, tmp_path)
    assert config.source == "built-in defaults"
    assert config.providers == {}
    assert list(config.virtual_models) == VIRTUAL_MODELS
    assert all(model.chain == () for model in config.virtual_models.values())
    assert len(warnings) == 1
    assert warnings[0].startswith("no provider keys found in the environment")
    assert config.server.open


def test_providers_are_enabled_by_their_keys(tmp_path: Path) -> None:
    env = {"GROQ_API_KEY": "g", "CEREBRAS_API_KEY_1": "c1", "CEREBRAS_API_KEY_4": "c4"}
    config, warnings = defaults(env, tmp_path)
    assert list(config.providers) == ["groq", "cerebras"]
    assert config.providers["groq"].base_url == "https://api.groq.com/openai/v1"
    assert config.providers["cerebras"].keys == (
        Credential("CEREBRAS_API_KEY_1", "c1"),
        Credential("CEREBRAS_API_KEY_4", "c4"),
    )
    assert config.providers["groq"].models == ("*",)
    assert warnings == ()
    assert config.virtual_models["coding-fast"].chain == (
        Target("groq", "openai/gpt-oss-120b"),
        Target("cerebras", "gpt-oss-120b"),
    )
    assert config.virtual_models["coding-elite"].chain == (
        Target("cerebras", "qwen-3-coder-480b"),
        Target("groq", "moonshotai/kimi-k2-instruct"),
    )


def test_base_url_variable_moves_a_provider(tmp_path: Path) -> None:
    env = {"OPENAI_API_KEY": "o", "OPENAI_BASE_URL": "http://proxy.local:8080/v1/"}
    config, _ = defaults(env, tmp_path)
    assert config.providers["openai"].base_url == "http://proxy.local:8080/v1"


def test_base_url_alone_does_not_enable_a_remote_provider(tmp_path: Path) -> None:
    config, _ = defaults({"OPENAI_BASE_URL": "http://proxy.local/v1"}, tmp_path)
    assert config.providers == {}


def test_bad_base_url_variable_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(None, env={"GROQ_API_KEY": "g", "GROQ_BASE_URL": "groq.local"}, cwd=tmp_path)
    assert str(caught.value) == "GROQ_BASE_URL: expected an http(s) URL, got 'groq.local'"


def test_g4f_base_url_alone_enables_it_keyless(tmp_path: Path) -> None:
    config, _ = defaults({"G4F_BASE_URL": "http://127.0.0.1:8080/v1"}, tmp_path)
    g4f = config.providers["g4f"]
    assert (g4f.base_url, g4f.keys) == ("http://127.0.0.1:8080/v1", (Credential.anonymous(),))
    assert [t.label for t in config.virtual_models["chat-fast"].chain] == ["g4f/gpt-4o-mini"]


def test_g4f_key_enables_it_at_the_default_url(tmp_path: Path) -> None:
    config, _ = defaults({"G4F_API_KEY": "x"}, tmp_path)
    assert config.providers["g4f"].base_url == "http://127.0.0.1:1337/v1"
    assert config.providers["g4f"].keys == (Credential("G4F_API_KEY", "x"),)


def test_every_known_provider_can_be_enabled(tmp_path: Path) -> None:
    env = {f"{known.name.upper()}_API_KEY": "k" for known in KNOWN_PROVIDERS}
    config, warnings = defaults(env, tmp_path)
    assert set(config.providers) == {known.name for known in KNOWN_PROVIDERS}
    assert warnings == ()
    for name, chain in DEFAULT_CHAINS.items():
        assert [t.label for t in config.virtual_models[name].chain] == list(chain)


def test_every_known_provider_is_in_every_default_chain() -> None:
    names = {known.name for known in KNOWN_PROVIDERS}
    for chain in DEFAULT_CHAINS.values():
        assert {Target.parse(label).provider for label in chain} == names


def test_required_urls_and_free_tiers_first() -> None:
    urls = {known.name: known.base_url for known in KNOWN_PROVIDERS}
    assert urls["gemini"] == "https://generativelanguage.googleapis.com/v1beta/openai"
    assert urls["anthropic"] == "https://api.anthropic.com/v1"
    assert urls["g4f"] == "http://127.0.0.1:1337/v1"
    priority = {known.name: known.priority for known in KNOWN_PROVIDERS}
    assert max(priority["groq"], priority["cerebras"]) < min(
        priority["openai"], priority["anthropic"]
    )


def test_proxy_api_key_closes_the_default_server(tmp_path: Path) -> None:
    config, _ = defaults({"PROXY_API_KEY": "p", "PROXY_API_KEY_2": "q"}, tmp_path)
    assert config.server.api_keys == ("p", "q")


def test_defaults_read_dotenv_in_cwd(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("MISTRAL_API_KEY=m\n")
    config, _ = defaults({}, tmp_path)
    assert list(config.providers) == ["mistral"]


def test_baton_yaml_in_cwd_is_preferred(tmp_path: Path) -> None:
    (tmp_path / "baton.yaml").write_text("providers:\n  a: {base_url: 'http://a', keys: []}\n")
    config, _ = defaults({"GROQ_API_KEY": "g"}, tmp_path)
    assert list(config.providers) == ["a"]
    assert config.source == str(tmp_path / "baton.yaml")


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(Path("nope.yaml"), env={}, cwd=tmp_path)
    assert str(caught.value) == f"{tmp_path / 'nope.yaml'}: cannot read: No such file or directory"


def test_the_shutdown_grace_is_configurable_and_checked() -> None:
    from config import ConfigError, load_text

    assert load_text("providers: {}\n", env={}).config.server.shutdown_grace == 10.0
    document = "server: {shutdown_grace: 2.5}\nproviders: {}\n"
    assert load_text(document, env={}).config.server.shutdown_grace == 2.5
    try:
        load_text("server: {shutdown_grace: -1}\nproviders: {}\n", env={})
    except ConfigError as error:
        assert "server.shutdown_grace" in str(error)
    else:
        raise AssertionError("a negative grace was accepted")


@pytest.mark.parametrize(
    ("name", "default", "given", "bad"),
    [
        ("header_timeout", 10.0, 2.5, -1),
        ("body_timeout", 60.0, 5, 0),
        ("max_connections", 2048, 100, 0),
        ("keepalive_timeout", 75.0, 5, 0),
        ("write_timeout", 60.0, 5, -1),
    ],
)
def test_the_client_limits_are_configurable_and_checked(
    name: str, default: float, given: float, bad: float
) -> None:
    from config import load_text

    assert getattr(load_text("providers: {}\n", env={}).config.server, name) == default
    document = f"server: {{{name}: {given}}}\nproviders: {{}}\n"
    assert getattr(load_text(document, env={}).config.server, name) == given
    with pytest.raises(ConfigError) as caught:
        load_text(f"server: {{{name}: {bad}}}\nproviders: {{}}\n", env={})
    assert f"server.{name}" in str(caught.value)


def test_anthropic_speaks_messages_unless_told_otherwise(tmp_path: Path) -> None:
    config, _ = defaults({"ANTHROPIC_API_KEY": "a", "GROQ_API_KEY": "g"}, tmp_path)
    assert config.providers["anthropic"].kind == "anthropic"
    assert config.providers["groq"].kind == "openai"
    yaml_text = (
        "providers:\n"
        "  anthropic: {keys: [a]}\n"
        "  compat: {keys: [a], base_url: 'https://api.anthropic.com/v1', kind: anthropic}\n"
        "  anthropic_openai: {keys: [a], base_url: 'https://api.anthropic.com/v1'}\n"
    )
    (tmp_path / "baton.yaml").write_text(yaml_text)
    providers = load(None, env={}, cwd=tmp_path).config.providers
    assert providers["anthropic"].kind == "anthropic"  # the built-in name keeps its API
    assert providers["compat"].kind == "anthropic"
    assert providers["anthropic_openai"].kind == "openai"  # any other name: OpenAI's


def test_anthropic_can_be_asked_for_its_openai_compatible_endpoint(tmp_path: Path) -> None:
    (tmp_path / "baton.yaml").write_text("providers:\n  anthropic: {keys: [a], kind: openai}\n")
    assert load(None, env={}, cwd=tmp_path).config.providers["anthropic"].kind == "openai"


def test_baton_check_says_the_connection_timeouts() -> None:
    from config import describe, load_text

    text = "server: {keepalive_timeout: 30, write_timeout: 15}\nproviders: {}\n"
    described = describe(load_text(text, env={}))
    assert "idle connections kept 30s; a reply write may take 15s" in described
