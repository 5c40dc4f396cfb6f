"""`health:` at the top level and per provider, and a virtual model's `order`."""

from __future__ import annotations

import textwrap

import pytest

from config import ConfigError, describe, load_text
from config.model import DEFAULT_HEALTH, HealthSettings

PROVIDERS = """
providers:
  alpha:
    base_url: http://127.0.0.1:9101/v1
    keys: [k1]
    models: [m-small, m-large]
  beta:
    base_url: http://127.0.0.1:9102/v1
    keys: [k2]
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_text(textwrap.dedent(text), env={})
    return [str(problem) for problem in caught.value.problems]


def test_defaults_probe_every_30_seconds_with_get_models() -> None:
    config = load_text(textwrap.dedent(PROVIDERS), env={}).config
    assert config.health == DEFAULT_HEALTH == HealthSettings(30.0, 5.0, "models")
    assert config.providers["alpha"].health == HealthSettings()
    assert config.health_for("alpha") == HealthSettings(30.0, 5.0, "models")


def test_providers_override_the_top_level_field_by_field() -> None:
    text = (
        "health: {interval: 60, probe: completion}\n"
        + PROVIDERS
        + "    health: {interval: 10, timeout: 2}\n"
    )
    config = load_text(textwrap.dedent(text), env={}).config
    assert config.health == HealthSettings(60.0, 5.0, "completion")
    assert config.providers["beta"].health == HealthSettings(interval=10.0, timeout=2.0)
    assert config.health_for("beta") == HealthSettings(10.0, 2.0, "completion")
    assert config.health_for("alpha") == HealthSettings(60.0, 5.0, "completion")


@pytest.mark.parametrize("off", ["off", "{interval: 0}", "{interval: off}", "false"])
def test_probes_can_be_turned_off(off: str) -> None:
    config = load_text(textwrap.dedent(PROVIDERS) + f"    health: {off}\n", env={}).config
    assert config.health_for("beta").interval == 0.0
    assert config.health_for("alpha").interval == 30.0


def test_the_top_level_can_turn_every_probe_off() -> None:
    config = load_text("health: off\n" + textwrap.dedent(PROVIDERS), env={}).config
    assert config.health_for("alpha").interval == config.health_for("beta").interval == 0.0


def test_health_values_come_from_the_environment_too() -> None:
    text = "health: {interval: '${PROBE_EVERY}'}\n" + textwrap.dedent(PROVIDERS)
    config = load_text(text, env={"PROBE_EVERY": "15"}).config
    assert config.health.interval == 15.0


def test_mistakes_name_their_path() -> None:
    text = (
        "health: {interval: -1, timeout: 0, probe: ping, every: 3}\n"
        + PROVIDERS
        + "    health: {interval: soon}\n"
    )
    assert problems(text) == [
        "health.every: unknown key (expected one of interval, timeout, probe)",
        "health.interval: expected a number of seconds (0 or off: never), got -1",
        "health.timeout: must be greater than 0, got 0",
        "health.probe: expected one of models, completion, got 'ping'",
        "providers.beta.health.interval: expected a number of seconds (0 or off: never),"
        " got 'soon'",
    ]


def test_completion_probes_need_a_listed_model() -> None:
    text = PROVIDERS + "    health: {probe: completion}\n"
    assert problems(text) == [
        "providers.beta.health.probe: completion probes need a listed model"
        " (this provider lists only '*')"
    ]


def test_virtual_model_order() -> None:
    text = (
        PROVIDERS
        + "virtual_models:\n"
        + "  plain: [alpha/m-small]\n"
        + "  listed: {chain: [alpha/m-small, beta/x]}\n"
        + "  fast: {chain: [alpha/m-small, beta/x], order: latency}\n"
        + "  best: {chain: [alpha/m-small, beta/x], order: priority}\n"
    )
    models = load_text(textwrap.dedent(text), env={}).config.virtual_models
    assert {name: model.order for name, model in models.items()} == {
        "plain": "listed",
        "listed": "listed",
        "fast": "latency",
        "best": "priority",
    }


def test_an_unknown_order_names_its_path() -> None:
    text = PROVIDERS + "virtual_models:\n  fast: {chain: [alpha/m-small], order: fastest}\n"
    assert problems(text) == [
        "virtual_models.fast.order: expected one of priority, listed, latency, ranked, "
        "got 'fastest'"
    ]


def test_describe_shows_probes_and_orders() -> None:
    text = (
        "health: {interval: 20}\n"
        + PROVIDERS
        + "    health: off\n"
        + "virtual_models:\n  fast: {chain: [alpha/m-small, beta/x], order: latency}\n"
    )
    shown = describe(load_text(textwrap.dedent(text), env={}))
    assert "health: GET /models every 20s (timeout 5s); beta: off\n" in shown
    assert "  fast: alpha/m-small -> beta/x (ordered by latency)\n" in shown
