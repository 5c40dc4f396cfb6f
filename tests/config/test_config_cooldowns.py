"""`cooldowns:` and `daily_reset_utc:`, at the top level and per provider."""

from __future__ import annotations

import textwrap
from datetime import time

import pytest

from config import ConfigError, describe, load_text
from config.model import CooldownPolicy, ProviderConfig

PROVIDERS = """
providers:
  alpha: {base_url: "http://a/v1", keys: [k]}
  beta:
    base_url: http://b/v1
    keys: [k]
"""


def providers(text: str, env: dict[str, str] | None = None) -> dict[str, ProviderConfig]:
    document = textwrap.dedent(text) + PROVIDERS
    return dict(load_text(document, env=env or {}).config.providers)


def _beta(top: str, body: str) -> ProviderConfig:
    document = textwrap.dedent(top) + PROVIDERS + body
    return load_text(document, env={}).config.providers["beta"]


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_text(textwrap.dedent(text) + PROVIDERS, env={})
    return [str(problem) for problem in caught.value.problems]


def test_the_defaults() -> None:
    alpha = providers("")["alpha"]
    assert alpha.cooldowns == CooldownPolicy(
        rate_limit=(10, 30, 60, 120),
        auth=(300, 900, 3600),
        lockout_models=3,
        lockout_within=600,
        lockout=(600, 1800, 3600),
        probe_hold=5,
        probe_timeout=600,
    )
    assert alpha.daily_reset_utc == time(0, 0)


def test_the_top_level_sets_every_provider_and_a_provider_overrides_field_by_field() -> None:
    top = """
    cooldowns:
      rate_limit: [5, 15]
      auth: 60
      key_lockout: {models: 2, within: 120, ladder: [300]}
      probe_hold: 2.5
      probe_timeout: 90
    daily_reset_utc: "07:30"
    """
    alpha = providers(top)["alpha"]
    assert alpha.cooldowns == CooldownPolicy(
        rate_limit=(5, 15),
        auth=(60,),
        lockout_models=2,
        lockout_within=120,
        lockout=(300,),
        probe_hold=2.5,
        probe_timeout=90,
    )
    assert alpha.daily_reset_utc == time(7, 30)
    overridden = _beta(
        top,
        "    cooldowns: {rate_limit: [1, 2, 3], key_lockout: {within: 30}}\n"
        '    daily_reset_utc: "none"\n',
    )
    assert overridden.cooldowns == CooldownPolicy(
        rate_limit=(1, 2, 3),
        auth=(60,),
        lockout_models=2,
        lockout_within=30,
        lockout=(300,),
        probe_hold=2.5,
        probe_timeout=90,
    )
    assert overridden.daily_reset_utc is None


def test_key_lockout_can_be_turned_off_and_times_come_from_the_environment() -> None:
    document = 'cooldowns: {key_lockout: off}\ndaily_reset_utc: "${RESET}"\n' + PROVIDERS
    alpha = load_text(document, env={"RESET": "8:05"}).config.providers["alpha"]
    assert alpha.cooldowns.lockout_models is None
    assert alpha.daily_reset_utc == time(8, 5)


def test_mistakes_name_their_path() -> None:
    assert problems(
        """
        cooldowns:
          rate_limit: []
          auth: [300, -1]
          key_lockout: {models: 0, window: 5}
          probe_hold: soon
        daily_reset_utc: 7:30
        """
    ) == [
        "cooldowns.rate_limit: list at least one number of seconds",
        "cooldowns.auth[1]: must be greater than 0, got -1",
        "cooldowns.key_lockout.window: unknown key (expected one of models, within, ladder)",
        "cooldowns.key_lockout.models: must be at least 1, got 0",
        "cooldowns.probe_hold: expected a number of seconds, got 'soon'",
        'daily_reset_utc: expected a time of day "HH:MM" (UTC) or "none", got 450'
        " (quote it: YAML reads 7:30 as a number)",
    ]
    assert problems("cooldowns: {ratelimit: [1]}\ndaily_reset_utc: '24:00'\n") == [
        "cooldowns.ratelimit: unknown key (did you mean 'rate_limit'?)",
        'daily_reset_utc: expected a time of day "HH:MM" (UTC) or "none", got \'24:00\'',
    ]
    document = PROVIDERS + "    cooldowns: {auth: [x]}\n"
    with pytest.raises(ConfigError) as caught:
        load_text(document, env={})
    assert [str(p) for p in caught.value.problems] == [
        "providers.beta.cooldowns.auth[0]: expected a number of seconds, got 'x'"
    ]


def test_describe_shows_cooldowns_that_are_not_the_defaults() -> None:
    loaded = load_text("cooldowns: {rate_limit: [5, 15], key_lockout: off}\n" + PROVIDERS, env={})
    assert (
        "    cooldowns: rate limit 5/15s, auth 300/900/3600s, key lockout off, probe hold 5s"
        " (lost after 600s); daily quotas reset at 00:00 UTC\n"
    ) in describe(loaded)
    loaded = load_text("daily_reset_utc: none\n" + PROVIDERS, env={})
    assert "key lockout after 3 models in 600s, 600/1800/3600s" in describe(loaded)
    assert "daily quotas roll" in describe(loaded)
    assert "cooldowns" not in describe(load_text(PROVIDERS, env={}))
