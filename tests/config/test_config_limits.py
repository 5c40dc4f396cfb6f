"""Rate limits of a provider: `limits`, `model_limits`, `quota_groups`; lookups and errors."""

from __future__ import annotations

import textwrap

import pytest

from config import ConfigError, Limits, RateLimits, describe, load_text

HEAD = "providers:\n  alpha:\n    base_url: http://h/v1\n    keys: [k]\n"


def provider(body: str, env: dict[str, str] | None = None) -> RateLimits:
    """The rate limits of provider `alpha` with `body` as its settings."""
    text = HEAD + textwrap.indent(textwrap.dedent(body), "    ")
    return load_text(text, env=env or {}).config.providers["alpha"].rate_limits


def problems(body: str, env: dict[str, str] | None = None) -> list[str]:
    text = HEAD + textwrap.indent(textwrap.dedent(body), "    ")
    with pytest.raises(ConfigError) as caught:
        load_text(text, env=env or {})
    return [str(problem) for problem in caught.value.problems]


GROQ = """
models: [llama, kimi-k2, kimi-k2-0905, gpt-oss]
limits: {rpm: 30, tpm: 6000, rpd: 1000, tpd: 100000}
model_limits:
  kimi-k2: {rpm: 60, tpm: 10000}
  kimi: {rpd: 2000, tpm: 8000}
  gpt-oss: {tpd: ~}
quota_groups:
  kimi: [kimi-k2, kimi-k2-0905]
"""


def test_full_shape() -> None:
    alpha = provider(GROQ)
    assert alpha.limits == Limits(rpm=30, tpm=6000, rpd=1000, tpd=100000)
    assert dict(alpha.model_limits) == {
        "kimi-k2": Limits(rpm=60, tpm=10000),
        "kimi": Limits(tpm=8000, rpd=2000),
        "gpt-oss": Limits(),  # a null field reads as omitted
    }
    assert dict(alpha.quota_groups) == {"kimi": ("kimi-k2", "kimi-k2-0905")}


def test_limits_for_a_model_go_model_then_group_then_provider() -> None:
    alpha = provider(GROQ)
    assert alpha.limits_for("kimi-k2") == Limits(rpm=60, tpm=10000, rpd=2000, tpd=100000)
    assert alpha.limits_for("kimi-k2-0905") == Limits(rpm=30, tpm=8000, rpd=2000, tpd=100000)
    assert alpha.limits_for("llama") == Limits(rpm=30, tpm=6000, rpd=1000, tpd=100000)
    assert alpha.limits_for("gpt-oss") == alpha.limits
    assert (alpha.quota_group("kimi-k2-0905"), alpha.quota_group("llama")) == ("kimi", None)


def test_defaults_are_no_limits() -> None:
    alpha = provider("models: [m]\n")
    assert alpha.limits == Limits() and not alpha.limits.configured
    assert (dict(alpha.model_limits), dict(alpha.quota_groups)) == ({}, {})
    assert alpha.limits_for("m") == Limits()


def test_values_may_come_from_the_environment() -> None:
    alpha = provider('limits: {rpm: "${ALPHA_RPM}"}\n', {"ALPHA_RPM": " 45 "})
    assert alpha.limits == Limits(rpm=45)


def test_a_provider_passing_any_model_takes_limits_for_any() -> None:
    alpha = provider("model_limits: {vendor/some-model: {rpm: 5}}\nquota_groups: {g: [a, b]}\n")
    assert alpha.limits_for("vendor/some-model") == Limits(rpm=5)
    assert alpha.quota_group("b") == "g"


def test_a_bare_string_is_a_group_of_one() -> None:
    assert dict(provider("quota_groups: {solo: m}\n").quota_groups) == {"solo": ("m",)}


def test_limit_values_must_be_positive_integers() -> None:
    assert problems("limits: {rpm: 0, tpm: -1, rpd: lots, tpd: 1.5}\n") == [
        "providers.alpha.limits.rpm: must be a positive integer, got 0",
        "providers.alpha.limits.tpm: must be a positive integer, got -1",
        "providers.alpha.limits.rpd: must be a positive integer, got 'lots'",
        "providers.alpha.limits.tpd: must be a positive integer, got 1.5",
    ]
    assert problems("limits: {rpm: true}\n") == [
        "providers.alpha.limits.rpm: must be a positive integer, got True"
    ]
    assert problems('limits: {rpm: "${NOPE}"}\n') == ["providers.alpha.limits.rpm: NOPE is not set"]


def test_limits_shape_errors() -> None:
    assert problems("limits: {rps: 5, tpm: 10}\n") == [
        "providers.alpha.limits.rps: unknown key (did you mean 'rpm'?)"
    ]
    assert problems("limits: [30]\n") == ["providers.alpha.limits: expected a mapping, got a list"]
    assert problems("model_limits: {m: 5}\n") == [
        "providers.alpha.model_limits.m: expected a mapping, got an integer"
    ]
    assert problems("model_limits: {m: {rpm: 0}}\n") == [
        "providers.alpha.model_limits.m.rpm: must be a positive integer, got 0"
    ]


def test_model_limits_must_name_a_listed_model_or_a_group() -> None:
    body = "models: [a, b]\nquota_groups: {g: [a]}\nmodel_limits: {c: {rpm: 1}, g: {rpm: 2}}\n"
    assert problems(body) == [
        "providers.alpha.model_limits.c: names neither a model the provider lists (a, b)"
        " nor a quota group"
    ]


def test_quota_group_errors() -> None:
    body = """
    models: [a, b, c]
    quota_groups:
      g1: [a, b]
      g2: [b, d, '']
      g3: []
      c: [c]
      g4: 5
    """
    assert problems(body) == [
        "providers.alpha.quota_groups.g2[0]: 'b' is already in quota group 'g1'",
        "providers.alpha.quota_groups.g2[1]: the provider does not list model 'd'"
        " (it lists a, b, c)",
        "providers.alpha.quota_groups.g2[2]: empty model name",
        "providers.alpha.quota_groups.g3: list at least one model",
        "providers.alpha.quota_groups.g4: expected a list, got 5",
        "providers.alpha.quota_groups.c: a quota group may not be named like a model"
        " (model_limits could not tell them apart)",
    ]


def test_a_model_listed_twice_in_one_group_is_kept_once() -> None:
    assert dict(provider("quota_groups: {g: [a, a]}\n").quota_groups) == {"g": ("a",)}


def test_a_provider_with_bad_limits_does_not_also_break_its_chains() -> None:
    text = HEAD + "    limits: {rpm: 0}\nvirtual_models:\n  v: [alpha/m]\n"
    with pytest.raises(ConfigError) as caught:
        load_text(text, env={})
    assert [str(p) for p in caught.value.problems] == [
        "providers.alpha.limits.rpm: must be a positive integer, got 0"
    ]


def test_describe_lists_limits_and_groups() -> None:
    text = describe(load_text(HEAD + textwrap.indent(textwrap.dedent(GROQ), "    "), env={}))
    assert "    limits per key: rpm 30, tpm 6000, rpd 1000, tpd 100000\n" in text
    assert "    limits per key for kimi-k2: rpm 60, tpm 10000\n" in text
    assert "    limits per key for kimi: tpm 8000, rpd 2000\n" in text
    assert "    limits per key for gpt-oss: none\n" in text
    assert "    quota group kimi: kimi-k2, kimi-k2-0905\n" in text


def test_describe_says_nothing_of_limits_when_none_are_set() -> None:
    text = describe(load_text(HEAD, env={}))
    assert "limits" not in text and "quota" not in text


def test_limits_over_fills_only_unset_fields() -> None:
    assert Limits(rpm=1).over(Limits(rpm=9, tpd=7)) == Limits(rpm=1, tpd=7)
    assert Limits().over(Limits()) == Limits()


def test_workers_each_hold_an_equal_share_of_every_limit() -> None:
    loaded = load_text(
        """
providers:
  alpha:
    base_url: http://127.0.0.1:9/v1
    keys: [k]
    models: [m, n]
    limits: {rpm: 60, tpd: 100001}
    max_concurrent_per_key: 5
    model_limits: {n: {rpd: 3}}
""",
        env={},
    )
    shared = loaded.config.shared_by(4).providers["alpha"].rate_limits
    assert shared.limits == Limits(rpm=15, tpd=25000)
    assert shared.model_limits["n"] == Limits(rpd=1)  # never below one
    assert loaded.config.shared_by(4).providers["alpha"].max_concurrent_per_key == 1
    assert loaded.config.shared_by(2).providers["alpha"].max_concurrent_per_key == 2
    assert loaded.config.shared_by(1) is loaded.config
