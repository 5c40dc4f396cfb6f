"""ignore_models / allow_models, temperature_zero, key tiers, tier_multipliers and
rotation_tolerance in a baton.yaml."""

import pytest

from config import ConfigError, Credential, load_text
from config.model import ProviderConfig

BASE = "providers:\n  alpha:\n    base_url: http://h/v1\n    keys: [k1]\n"


def provider(extra: str, top: str = "") -> ProviderConfig:
    return load_text(top + BASE + extra, env={"K2": "two"}).config.providers["alpha"]


def problems(extra: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_text(BASE + extra, env={})
    return [str(problem) for problem in caught.value.problems]


def test_allow_wins_over_ignore_in_serving_and_listing() -> None:
    alpha = provider(
        "    models: [m-large, m-preview, m-small-preview]\n"
        "    ignore_models: ['*-preview']\n    allow_models: [m-small-*]\n"
    )
    assert alpha.listed_models == ("m-large", "m-small-preview")
    assert [alpha.serves(m) for m in ("m-large", "m-preview", "m-small-preview")] == [
        True,
        False,
        True,
    ]


def test_pure_allow_list_over_any_model() -> None:
    alpha = provider("    ignore_models: '*'\n    allow_models: [a, 'b?']\n")
    assert [alpha.serves(m) for m in ("a", "b1", "b12", "c")] == [True, True, False, False]


def test_no_filters_serve_everything() -> None:
    alpha = provider("")
    assert alpha.serves("anything") and (alpha.ignore_models, alpha.allow_models) == ((), ())


@pytest.mark.parametrize(
    ("value", "mode", "number"),
    [("keep", "keep", 1.0), ("remove", "remove", 1.0), ("set", "set", 1.0), ("0.7", "set", 0.7)],
)
def test_temperature_zero(value: str, mode: str, number: float) -> None:
    alpha = provider(f"    temperature_zero: {value}\n")
    assert (alpha.temperature_zero, alpha.temperature_zero_value) == (mode, number)


def test_key_tiers() -> None:
    text = BASE.replace(
        "keys: [k1]", "keys: [k1, {key: '${K2}', tier: free}, {key: k3, tier: 7}, {key: k4}]"
    )
    keys = load_text(text, env={"K2": "two"}).config.providers["alpha"].keys
    assert keys == (
        Credential("alpha#1", "k1", tier=1),
        Credential("K2", "two", tier=2),
        Credential("alpha#3", "k3", tier=7),
        Credential("alpha#4", "k4", tier=1),
    )


def test_tier_multipliers_and_tolerance() -> None:
    alpha = provider("    tier_multipliers: {paid: 3, 2: 1, '5': 2}\n    rotation_tolerance: 2\n")
    assert alpha.tier_multipliers == {1: 3, 2: 1, 5: 2}
    assert alpha.rotation_tolerance == 2.0


def test_top_level_tolerance_is_the_default() -> None:
    assert provider("", top="rotation_tolerance: 3\n").rotation_tolerance == 3.0
    assert (
        provider("    rotation_tolerance: 0\n", "rotation_tolerance: 3\n").rotation_tolerance == 0
    )
    assert provider("").rotation_tolerance == 0.0


def test_mistakes_name_the_path() -> None:
    assert problems(
        "    temperature_zero: sometimes\n    tier_multipliers: {gold: 2, free: 0}\n"
        "    rotation_tolerance: -1\n    ignore_models: ['']\n"
    ) == [
        "providers.alpha.ignore_models[0]: empty pattern",
        "providers.alpha.temperature_zero: expected one of keep, remove, set or a number,"
        " got 'sometimes'",
        "providers.alpha.tier_multipliers: expected paid, free or a number of at least 1,"
        " got 'gold'",
        "providers.alpha.tier_multipliers.free: must be at least 1, got 0",
        "providers.alpha.rotation_tolerance: expected a number of at least 0, got -1",
    ]
    tier_zero = BASE.replace("keys: [k1]", "keys: [{key: k, tier: 0}]")
    with pytest.raises(ConfigError) as caught:
        load_text(tier_zero, env={})
    assert [str(p) for p in caught.value.problems] == [
        "providers.alpha.keys[0].tier: must be at least 1, got 0"
    ]
