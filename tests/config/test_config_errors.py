"""Every validation problem, with its exact path and message; all collected in one error."""

from __future__ import annotations

import textwrap

import pytest

from config import ConfigError, Problem, load_text
from config.loader import SECTIONS

ALPHA = """
providers:
  alpha:
    base_url: http://127.0.0.1:9101/v1
    keys: [k1]
    models: [m-small, m-large]
"""


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_text(textwrap.dedent(text), env=env or {})
    return [str(problem) for problem in caught.value.problems]


def test_str_lists_each_problem_on_its_own_line() -> None:
    error = ConfigError([Problem("a.b", "first"), Problem("c[0]", "second")])
    assert str(error) == "a.b: first\nc[0]: second"
    assert error.problems == [Problem("a.b", "first"), Problem("c[0]", "second")]


def test_unknown_top_level_key_suggests_the_closest() -> None:
    assert SECTIONS[:5] == ("server", "timeouts", "providers", "virtual_models", "model_aliases")
    assert problems("provders: {}\n") == ["provders: unknown key (did you mean 'providers'?)"]
    assert problems("xyzzy: red\n") == [
        f"xyzzy: unknown key (expected one of {', '.join(SECTIONS)})"
    ]


def test_unknown_keys_inside_sections() -> None:
    text = ALPHA + "    prority: 1\nserver: {api_key: [x]}\ntimeouts: {totl: 5}\n"
    assert problems(text) == [
        "server.api_key: unknown key (did you mean 'api_keys'?)",
        "timeouts.totl: unknown key (did you mean 'total'?)",
        "providers.alpha.prority: unknown key (did you mean 'priority'?)",
    ]


def test_document_must_be_a_mapping() -> None:
    assert problems("- a\n- b\n") == [f"expected a mapping of {', '.join(SECTIONS)}, got a list"]


def test_wrong_types_name_the_path() -> None:
    text = """
    server: {max_body_bytes: lots}
    providers:
      alpha:
        base_url: http://h/v1
        keys: []
        priority: high
        max_concurrent_per_key: 0
        models: {a: b}
        headers: [x]
    """
    assert problems(text) == [
        "server.max_body_bytes: expected an integer, got 'lots'",
        "providers.alpha.models: expected a list, got a mapping",
        "providers.alpha.priority: expected an integer, got 'high'",
        "providers.alpha.max_concurrent_per_key: must be at least 1, got 0",
        "providers.alpha.headers: expected a mapping, got a list",
    ]


def test_booleans_and_floats_are_not_integers() -> None:
    text = ALPHA + "    priority: true\n    max_concurrent_per_key: 2.5\n"
    assert problems(text) == [
        "providers.alpha.priority: expected an integer, got True",
        "providers.alpha.max_concurrent_per_key: expected an integer, got 2.5",
    ]


def test_unknown_kind_and_rotation() -> None:
    text = ALPHA + "    kind: cohere\n    rotation: random\n"
    assert problems(text) == [
        "providers.alpha.kind: expected one of openai, openai-responses, anthropic, got 'cohere'",
        "providers.alpha.rotation: expected one of balanced, sequential, got 'random'",
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "must be greater than 0, got 0"),
        ("-1.5", "must be greater than 0, got -1.5"),
        ("soon", "expected a number of seconds, got 'soon'"),
        (".nan", "expected a number of seconds, got nan"),
        ("false", "expected a number of seconds, got False"),
    ],
)
def test_timeouts_must_be_positive_numbers(value: str, message: str) -> None:
    assert problems(f"timeouts: {{idle: {value}}}\n") == [f"timeouts.idle: {message}"]


@pytest.mark.parametrize("url", ["ftp://h/v1", "127.0.0.1:9101/v1", "http:///v1", ""])
def test_base_url_must_be_http(url: str) -> None:
    text = f"providers:\n  alpha: {{base_url: {url!r}, keys: []}}\n"
    assert problems(text) == [f"providers.alpha.base_url: expected an http(s) URL, got {url!r}"]


def test_malformed_base_url() -> None:
    assert problems("providers:\n  alpha: {base_url: 'https://[::1/v1', keys: []}\n") == [
        "providers.alpha.base_url: expected an http(s) URL, got a malformed one"
    ]


def test_base_url_is_required_for_unknown_providers() -> None:
    assert problems("providers:\n  alpha: {keys: []}\n") == [
        "providers.alpha.base_url: is required"
    ]


def test_invalid_provider_name() -> None:
    assert problems("providers:\n  a/b: {keys: []}\n") == [
        "providers.a/b: a provider name may only contain letters, digits, '.', '_' and '-'"
    ]


def test_unset_variable_outside_keys_is_an_error() -> None:
    text = ALPHA + "    headers: {X-Title: '${TITLE}'}\n    priority: '${PRIO}'\n"
    assert problems(text) == [
        "providers.alpha.priority: PRIO is not set",
        "providers.alpha.headers.X-Title: TITLE is not set",
    ]


def test_unset_key_variable_is_an_error_when_no_key_remains() -> None:
    text = (
        "providers:\n  alpha:\n    base_url: http://h/v1\n    keys: ['${A1}', '${ALPHA_KEY_2}']\n"
    )
    assert problems(text) == [
        "providers.alpha.keys[0]: A1 is not set",
        "providers.alpha.keys[1]: ALPHA_KEY_2 is not set",
    ]


def test_no_keys_given_and_none_in_the_environment() -> None:
    assert problems("providers:\n  alpha: {base_url: 'http://h/v1'}\n") == [
        "providers.alpha.keys: no keys given and ALPHA_API_KEY is not set"
    ]
    assert problems("providers:\n  my-local.llm: {base_url: 'http://h/v1'}\n") == [
        "providers.my-local.llm.keys: no keys given and MY_LOCAL_LLM_API_KEY is not set"
    ]


def test_bad_key_entries() -> None:
    text = "providers:\n  alpha:\n    base_url: http://h/v1\n    keys: ['', k2, 5, {a: b}]\n"
    assert problems(text) == [
        "providers.alpha.keys[0]: empty key",
        "providers.alpha.keys[2]: expected a string, got an integer",
        "providers.alpha.keys[3].a: unknown key (expected one of key, tier)",
        "providers.alpha.keys[3]: a key given as a mapping needs `key`",
    ]


def test_models_must_not_be_empty() -> None:
    assert problems(ALPHA.replace("[m-small, m-large]", "[]")) == [
        "providers.alpha.models: list at least one model, or '*' for any"
    ]
    assert problems(ALPHA.replace("[m-small, m-large]", "[m, ' ']")) == [
        "providers.alpha.models[1]: empty model name"
    ]


def test_header_names_and_values_are_checked() -> None:
    text = ALPHA + "    headers: {'Bad Name': x, X-Ok: \"a\\r\\nInjected: 1\", X-N: 5}\n"
    assert problems(text) == [
        "providers.alpha.headers.Bad Name: not a valid header name",
        "providers.alpha.headers.X-Ok: a header value may not contain a line break",
        "providers.alpha.headers.X-N: expected a string, got an integer",
    ]


def test_chain_entries_must_be_provider_slash_model() -> None:
    text = ALPHA + "virtual_models:\n  x:\n    chain: [alpha, /m, 'alpha/', 7]\n"
    assert problems(text) == [
        "virtual_models.x.chain[0]: expected provider/model, got 'alpha'",
        "virtual_models.x.chain[1]: expected provider/model, got '/m'",
        "virtual_models.x.chain[2]: expected provider/model, got 'alpha/'",
        "virtual_models.x.chain[3]: expected a string, got 7",
    ]


def test_chain_naming_an_unknown_provider() -> None:
    text = ALPHA + "virtual_models:\n  coding-elite:\n    chain: [alpha/m-large, beta/m-large]\n"
    assert problems(text) == ["virtual_models.coding-elite.chain[1]: unknown provider 'beta'"]


def test_chain_naming_a_model_the_provider_does_not_list() -> None:
    text = ALPHA + "virtual_models:\n  x:\n    chain: [alpha/m-huge]\n"
    assert problems(text) == [
        "virtual_models.x.chain[0]: provider 'alpha' does not list model 'm-huge'"
        " (it lists m-small, m-large)"
    ]


def test_chain_through_a_broken_provider_reports_only_the_provider() -> None:
    text = ALPHA.replace("keys: [k1]", "keys: [k1]\n    priority: x")
    text += "virtual_models:\n  x: [alpha/anything]\n"
    assert problems(text) == ["providers.alpha.priority: expected an integer, got 'x'"]


def test_virtual_model_names_may_not_contain_a_slash() -> None:
    text = (
        ALPHA + "virtual_models:\n  team/fast: [alpha/m-small]\n  alpha/m-small: [alpha/m-large]\n"
    )
    assert problems(text) == [
        "virtual_models.team/fast: a virtual model name may not contain '/'",
        "virtual_models.alpha/m-small: clashes with the provider/model id 'alpha/m-small';"
        " a virtual model name may not contain '/'",
    ]


def test_empty_chains() -> None:
    text = ALPHA + "virtual_models:\n  a: {chain: []}\n  b: {}\n  c: []\n"
    assert problems(text) == [
        "virtual_models.a.chain: empty chain: name at least one provider/model",
        "virtual_models.b.chain: empty chain: name at least one provider/model",
        "virtual_models.c.chain: empty chain: name at least one provider/model",
    ]


def test_all_problems_are_collected() -> None:
    text = """
    server: {api_keys: ['${PROXY_API_KEY}']}
    timeouts: {total: 0}
    providers:
      alpha: {base_url: 'ftp://x', keys: [], rotation: rr}
      beta: {base_url: 'http://b/v1'}
    virtual_models:
      v: [gamma/m]
    """
    assert problems(text) == [
        "server.api_keys[0]: PROXY_API_KEY is not set",
        "timeouts.total: must be greater than 0, got 0",
        "providers.alpha.base_url: expected an http(s) URL, got 'ftp://x'",
        "providers.alpha.rotation: expected one of balanced, sequential, got 'rr'",
        "providers.beta.keys: no keys given and BETA_API_KEY is not set",
        "virtual_models.v.chain[0]: unknown provider 'gamma'",
    ]


def test_yaml_syntax_error_names_line_and_column() -> None:
    assert problems("providers:\n  alpha: [unclosed\n") == [
        "line 3, column 1: invalid YAML: expected ',' or ']', but got '<stream end>'"
    ]


def test_duplicate_keys_are_errors() -> None:
    text = "providers:\n  alpha: {keys: [], base_url: 'http://a'}\n  alpha: {keys: []}\n"
    assert problems(text) == ["line 3: duplicate key 'alpha'"]


def test_merge_keys_may_be_overridden() -> None:
    text = """
    base: &base {base_url: 'http://a/v1', keys: [], priority: 5}
    """
    # `base` is not a section; the anchor is only usable through a provider.
    assert problems(text) == [f"base: unknown key (expected one of {', '.join(SECTIONS)})"]
    text = """
    providers:
      alpha: &base {base_url: 'http://a/v1', keys: [], priority: 5}
      beta:
        <<: *base
        priority: 6
    """
    loaded = load_text(textwrap.dedent(text), env={})
    assert loaded.config.providers["beta"].priority == 6
