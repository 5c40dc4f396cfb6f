"""No secret, client or upstream, in any repr, str, warning, error or `baton check` output."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from config import ConfigError, describe, load, load_text

SECRETS = {
    "PROXY_API_KEY": "sk-proxy-SECRET-1",
    "ALPHA_KEY_2": "sk-alpha-SECRET-2",
    "BETA_API_KEY_3": "sk-beta-SECRET-3",
    "REFERER_TOKEN": "sk-header-SECRET-4",
    "URL_PASSWORD": "sk-url-SECRET-5",
}
LITERAL = "sk-literal-SECRET-6"

CONFIG = f"""
server:
  api_keys: ["${{PROXY_API_KEY}}", "sk-client-SECRET-7"]
providers:
  alpha:
    base_url: http://127.0.0.1:9101/v1
    keys: [{LITERAL}, "${{ALPHA_KEY_2}}", "${{ALPHA_KEY_3}}"]
    models: [m-small, m-large]
    headers: {{Authorization: "Bearer ${{REFERER_TOKEN}}"}}
  beta:
    base_url: "https://user:${{URL_PASSWORD}}@beta.example/v1?token=${{URL_PASSWORD}}"
virtual_models:
  coding-elite:
    chain: [alpha/m-large, beta/m-large]
"""
ALL_SECRETS = [*SECRETS.values(), LITERAL, "sk-client-SECRET-7"]


def assert_no_secret(text: str) -> None:
    leaked = [secret for secret in ALL_SECRETS if secret in text]
    assert leaked == [], text
    assert "SECRET" not in text, text


def test_loaded_config_repr_and_warnings_hold_no_secret() -> None:
    loaded = load_text(CONFIG, env=SECRETS)
    providers = loaded.config.providers
    assert providers["alpha"].keys[0].secret == LITERAL  # they are there...
    assert providers["alpha"].headers["Authorization"] == "Bearer sk-header-SECRET-4"
    assert_no_secret(repr(loaded))  # ...but never shown
    assert_no_secret(str(loaded.config))
    assert_no_secret("\n".join(loaded.warnings))


def test_describe_shows_counts_and_aliases_only() -> None:
    text = describe(load_text(CONFIG, env=SECRETS))
    assert_no_secret(text)
    assert "server: 2 client keys" in text
    assert "keys (2): alpha#1, ALPHA_KEY_2" in text
    assert "keys (1): BETA_API_KEY_3" in text
    assert "at https://***@beta.example/v1?***" in text
    assert "extra headers: Authorization (values hidden)" in text
    assert "coding-elite: alpha/m-large -> beta/m-large" in text
    assert "  - providers.alpha.keys[2]: ALPHA_KEY_3 is not set; key dropped" in text


def test_describe_of_the_defaults(tmp_path: Path) -> None:
    loaded = load(None, env={"GROQ_API_KEY": "sk-groq-SECRET"}, cwd=tmp_path)
    text = describe(loaded)
    assert_no_secret(text)
    assert text.startswith("source: built-in defaults\nserver: OPEN")
    assert "  groq: openai at https://api.groq.com/openai/v1\n" in text
    assert "    keys (1): GROQ_API_KEY\n" in text
    assert "timeouts: connect 10s, first byte 30s, idle 120s, total 600s" in text


@pytest.mark.parametrize(
    ("old", "new"),
    [
        # type errors on keys and headers describe the kind, not the value
        (f"keys: [{LITERAL}", f"keys: [[{LITERAL}]"),
        ('Authorization: "Bearer ${REFERER_TOKEN}"', f"Authorization: [{LITERAL}]"),
        # an invalid URL is shown with its credentials masked
        ("https://user:", "ftp://user:"),
        # an unknown key does not echo its value
        ("models: [m-small", f"modles: {LITERAL}\n    models: [m-small"),
        ("api_keys: [", f"api_keys: {{a: {LITERAL}}}\n  x: ["),
    ],
)
def test_errors_hold_no_secret(old: str, new: str) -> None:
    text = CONFIG.replace(old, new)
    assert text != CONFIG
    with pytest.raises(ConfigError) as caught:
        load_text(text, env=SECRETS)
    assert_no_secret(str(caught.value))
    assert_no_secret(repr(caught.value))


def test_yaml_syntax_errors_do_not_quote_the_line() -> None:
    with pytest.raises(ConfigError) as caught:
        load_text(f"providers:\n  alpha: {{keys: [{LITERAL}\n", env={})
    assert_no_secret(str(caught.value))


def test_numeric_looking_key_is_not_echoed() -> None:
    text = "providers:\n  a:\n    base_url: http://a\n    keys: [123456789]\n"
    with pytest.raises(ConfigError) as caught:
        load_text(textwrap.dedent(text), env={})
    assert str(caught.value) == "providers.a.keys[0]: expected a string, got an integer"
