"""`model_aliases:`: names and wildcards that another model serves, checked at load."""

import pytest

from actors.routing import Router
from config import ConfigError, load_text
from config.model import Target

BASE = """
providers:
  up: {base_url: "http://127.0.0.1:9/v1", keys: [k], models: [m1, m2]}
  other: {base_url: "http://127.0.0.1:9/v1", keys: [k], models: ["*"]}
virtual_models:
  coding-elite: [up/m1, other/x]
  coding-fast: [other/small]
"""


def load(aliases: str):
    return load_text(BASE + aliases, env={}).config


def test_wildcards_in_the_order_written_the_first_match_wins() -> None:
    config = load(
        'model_aliases:\n  "claude-*-haiku*": coding-fast\n  "claude-*": coding-elite\n'
        "  gpt-4o: up/m2\n  plain: m1\n"
    )
    router = Router(config)
    assert router.chain_for("claude-3-5-haiku-20241022") == (Target("other", "small"),)
    assert router.chain_for("claude-sonnet-4-5") == (
        Target("up", "m1"),
        Target("other", "x"),
    )
    assert router.chain_for("gpt-4o") == (Target("up", "m2"),)
    assert router.chain_for("plain") == (Target("up", "m1"),)  # a name providers list
    assert router.chain_for("gpt-4o-mini") is None  # no wildcard: exact names only
    assert router.order_for("claude-sonnet-4-5") == "listed"


def test_an_alias_never_hides_a_virtual_model_or_a_provider_model_id() -> None:
    config = load('model_aliases:\n  "*": coding-fast\n')
    router = Router(config)
    assert router.chain_for("coding-elite") == config.virtual_models["coding-elite"].chain
    assert router.chain_for("up/m2") == (Target("up", "m2"),)
    assert router.chain_for("anything") == (Target("other", "small"),)


def test_plain_aliases_are_listed_and_wildcards_are_not() -> None:
    router = Router(load('model_aliases:\n  "claude-*": coding-elite\n  sonnet: coding-elite\n'))
    ids = router.model_ids()
    assert "sonnet" in ids and "claude-*" not in ids
    assert ids.index("sonnet") < ids.index("up/m1")
    assert router.owner_of("sonnet") == "baton"


@pytest.mark.parametrize(
    ("aliases", "message"),
    [
        ("model_aliases:\n  claude: nowhere\n", "model_aliases.claude: 'nowhere' is neither"),
        ("model_aliases:\n  claude: up/m9\n", "model_aliases.claude: 'up/m9' is neither"),
        ("model_aliases:\n  claude: [a]\n", "model_aliases.claude: expected the name"),
        ("model_aliases: [a]\n", "model_aliases: expected a mapping"),
    ],
)
def test_a_bad_alias_is_a_load_error_naming_its_path(aliases: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load(aliases)
    assert message in str(raised.value)
