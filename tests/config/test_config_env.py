"""`${VAR}` expansion, `.env` files beside the configuration, key discovery by name."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from config import load, load_text
from config.env import discover_keys, env_prefix, expand, read_environment

PROVIDER = """
providers:
  alpha:
    base_url: ${ALPHA_URL}
    keys: ["${ALPHA_KEY}"]
    headers: {X-Title: "baton ${VERSION} on ${HOST}"}
"""


def test_expand_replaces_every_variable() -> None:
    result = expand("a ${X} b ${Y} ${X}", {"X": "1", "Y": "2"})
    assert (result.value, result.missing, result.variable) == ("a 1 b 2 1", (), None)


def test_expand_reports_each_missing_variable_once() -> None:
    result = expand("${A}${B}${A}", {"B": "b"})
    assert (result.value, result.missing) == ("b", ("A",))


def test_expand_names_the_sole_variable() -> None:
    assert expand("${KEY_1}", {"KEY_1": "s"}).variable == "KEY_1"
    assert expand("x${KEY_1}", {"KEY_1": "s"}).variable is None


def test_text_without_variables_is_left_alone() -> None:
    assert expand("$HOME ${not valid} $${X", {}).value == "$HOME ${not valid} $${X"


def test_env_prefix() -> None:
    assert env_prefix("my-local.llm") == "MY_LOCAL_LLM"
    assert env_prefix("Groq") == "GROQ"


def test_discover_keys_in_numeric_order_with_gaps() -> None:
    env = {
        "ALPHA_API_KEY_10": "k10",
        "ALPHA_API_KEY_2": "k2",
        "ALPHA_API_KEY": "k",
        "ALPHA_API_KEY_1": "k1",
        "ALPHA_API_KEY_35": "k35",
        "ALPHA_API_KEY_0": "no",
        "ALPHA_API_KEY_01": "no",
        "ALPHA_API_KEYS": "no",
        "ALPHA_API_KEY_3": "  ",
        "ALPHA_API_KEY_4": "",
        "BETA_API_KEY": "no",
    }
    assert discover_keys("ALPHA", env) == [
        ("ALPHA_API_KEY", "k"),
        ("ALPHA_API_KEY_1", "k1"),
        ("ALPHA_API_KEY_2", "k2"),
        ("ALPHA_API_KEY_10", "k10"),
        ("ALPHA_API_KEY_35", "k35"),
    ]


def test_discover_keys_strips_whitespace() -> None:
    assert discover_keys("A", {"A_API_KEY_1": " s \n"}) == [("A_API_KEY_1", "s")]


def test_every_string_value_is_expanded() -> None:
    env = {"ALPHA_URL": "http://h:1/v1/", "ALPHA_KEY": "s", "VERSION": "1", "HOST": "box"}
    alpha = load_text(PROVIDER, env=env).config.providers["alpha"]
    assert alpha.base_url == "http://h:1/v1"
    assert dict(alpha.headers) == {"X-Title": "baton 1 on box"}
    assert alpha.keys[0].secret == "s"


def test_numbers_may_come_from_variables() -> None:
    text = "server: {max_body_bytes: '${MAX}'}\ntimeouts: {total: '${TOTAL}'}\n"
    config = load_text(text, env={"MAX": "1024", "TOTAL": "2.5"}).config
    assert (config.server.max_body_bytes, config.timeouts.total) == (1024, 2.5)


def write_dotenv(directory: Path, text: str) -> None:
    (directory / ".env").write_text(text, encoding="utf-8")


def test_dotenv_beside_the_file_supplies_variables(tmp_path: Path) -> None:
    (tmp_path / "conf.yaml").write_text(PROVIDER, encoding="utf-8")
    write_dotenv(tmp_path, "ALPHA_URL=http://from-dotenv/v1\nALPHA_KEY=dotenv\nVERSION=2\n")
    loaded = load(Path("conf.yaml"), env={"HOST": "h", "VERSION": "3"}, cwd=tmp_path)
    alpha = loaded.config.providers["alpha"]
    assert alpha.base_url == "http://from-dotenv/v1"
    assert alpha.keys[0].secret == "dotenv"
    # The real environment wins over .env.
    assert dict(alpha.headers) == {"X-Title": "baton 3 on h"}
    assert loaded.config.source == str(tmp_path / "conf.yaml")


def test_dotenv_is_read_beside_the_file_not_the_cwd(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "baton.yaml").write_text("server: {api_keys: ['${TOKEN}']}\n")
    write_dotenv(tmp_path, "TOKEN=from-cwd\n")
    write_dotenv(tmp_path / "etc", "TOKEN=beside\n")
    loaded = load(tmp_path / "etc" / "baton.yaml", env={}, cwd=tmp_path)
    assert loaded.config.server.api_keys == ("beside",)


def test_load_text_reads_dotenv_from_base_dir(tmp_path: Path) -> None:
    write_dotenv(tmp_path, "TOKEN=t\n")
    text = "server: {api_keys: ['${TOKEN}']}\n"
    assert load_text(text, env={}, base_dir=tmp_path).config.server.api_keys == ("t",)


def test_dotenv_interpolates_and_ignores_valueless_names(tmp_path: Path) -> None:
    write_dotenv(tmp_path, "A=one\nB=${A}-two\nC\nexport D='quoted # not a comment'\n")
    variables = read_environment({}, tmp_path / ".env").variables
    assert variables == {"A": "one", "B": "one-two", "D": "quoted # not a comment"}


def test_unparsable_dotenv_lines_are_warnings_not_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    write_dotenv(tmp_path, "A=1\nthis is not valid sk-secret\nB=2\n")
    environment = read_environment({}, tmp_path / ".env")
    assert environment.variables == {"A": "1", "B": "2"}
    assert environment.warnings == (".env, line 2: cannot parse; ignored",)
    assert "sk-secret" not in repr(environment)
    assert caplog.records == []


def test_dotenv_warnings_reach_the_loaded_config(tmp_path: Path) -> None:
    write_dotenv(tmp_path, "not valid\n")
    loaded = load_text("{}", env={}, base_dir=tmp_path)
    assert loaded.warnings == (
        ".env, line 1: cannot parse; ignored",
        "providers: no providers configured",
    )


def test_missing_dotenv_is_fine(tmp_path: Path) -> None:
    assert read_environment({"X": "1"}, tmp_path / ".env").variables == {"X": "1"}
