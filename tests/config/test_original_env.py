"""LLM-API-Key-Proxy's .env read unchanged (no baton.yaml), variable by variable, and the
look-alike variables `baton check` warns about."""

from pathlib import Path

import pytest

from config import ConfigError, Credential, Timeouts, load
from config.model import Config

FIXTURES = Path(__file__).parent / "fixtures"


def defaults(env: dict[str, str], tmp_path: Path) -> tuple[Config, tuple[str, ...]]:
    loaded = load(None, env=env, cwd=tmp_path)
    return loaded.config, loaded.warnings


def test_filters_rotation_and_concurrency(tmp_path: Path) -> None:
    env = {
        "GROQ_API_KEY": "g",
        "IGNORE_MODELS_GROQ": " *-preview*, groq/whisper* ,,",
        "WHITELIST_MODELS_GROQ": "llama-4-preview",
        "ROTATION_MODE_GROQ": "Sequential",
        "MAX_CONCURRENT_REQUESTS_PER_KEY_GROQ": "3",
        "MAX_CONCURRENT_REQUESTS_PER_KEY_GROQ_BALANCED": "7",  # not groq's mode: unused
        "PROVIDER_PRIORITY_GROQ": "5",
    }
    groq = defaults(env, tmp_path)[0].providers["groq"]
    assert groq.ignore_models == ("*-preview*", "whisper*")
    assert groq.allow_models == ("llama-4-preview",)
    assert [groq.serves(m) for m in ("llama-4-preview", "x-preview", "whisper-1", "llama")] == [
        True,
        False,
        False,
        True,
    ]
    assert (groq.rotation, groq.max_concurrent_per_key, groq.priority) == ("sequential", 3, 5)


def test_mode_specific_cap_wins_and_non_positive_means_none(tmp_path: Path) -> None:
    env = {
        "GROQ_API_KEY": "g",
        "CEREBRAS_API_KEY": "c",
        "MAX_CONCURRENT_REQUESTS_PER_KEY_GROQ": "3",
        "MAX_CONCURRENT_REQUESTS_PER_KEY_GROQ_BALANCED": "7",
        "MAX_CONCURRENT_REQUESTS_PER_KEY_CEREBRAS": "0",
    }
    providers = defaults(env, tmp_path)[0].providers
    assert providers["groq"].max_concurrent_per_key == 7
    assert providers["cerebras"].max_concurrent_per_key is None


def test_multipliers_quota_groups_and_globals(tmp_path: Path) -> None:
    env = {
        "GEMINI_API_KEY": "k",
        "CONCURRENCY_MULTIPLIER_GEMINI_PRIORITY_1": "5",
        "CONCURRENCY_MULTIPLIER_GEMINI_PRIORITY_2": "2",
        "CONCURRENCY_MULTIPLIER_GEMINI_PRIORITY_2_BALANCED": "9",
        "CONCURRENCY_MULTIPLIER_GEMINI_PRIORITY_3_SEQUENTIAL": "4",
        "QUOTA_GROUPS_GEMINI_PRO": "gemini-2.5-pro, gemini-2.5-pro-exp",
        "QUOTA_GROUPS_GEMINI_OFF": "",
        "ROTATION_TOLERANCE": "2.5",
        "OVERRIDE_TEMPERATURE_ZERO": "yes",
    }
    gemini = defaults(env, tmp_path)[0].providers["gemini"]
    assert gemini.tier_multipliers == {1: 5, 2: 9}
    assert gemini.rate_limits.quota_groups == {"pro": ("gemini-2.5-pro", "gemini-2.5-pro-exp")}
    assert gemini.rotation_tolerance == 2.5
    assert (gemini.temperature_zero, gemini.temperature_zero_value) == ("set", 1.0)


@pytest.mark.parametrize(
    ("value", "mode"), [("remove", "remove"), ("set", "set"), ("TRUE", "set"), ("false", "keep")]
)
def test_override_temperature_zero(value: str, mode: str, tmp_path: Path) -> None:
    env = {"GROQ_API_KEY": "g", "OVERRIDE_TEMPERATURE_ZERO": value}
    assert defaults(env, tmp_path)[0].providers["groq"].temperature_zero == mode


def test_timeouts(tmp_path: Path) -> None:
    env = {"TIMEOUT_CONNECT": "15", "TIMEOUT_READ_STREAMING": "240"}
    env["TIMEOUT_READ_NON_STREAMING"] = "500"
    config, _ = defaults(env, tmp_path)
    assert config.timeouts == Timeouts(connect=15, idle=240, first_byte=500)


def test_api_base_moves_a_known_provider_and_adds_a_custom_one(tmp_path: Path) -> None:
    env = {
        "GROQ_API_KEY": "g",
        "GROQ_API_BASE": "http://groq.local/v1/",
        "MY_BOX_API_BASE": "http://box:9000/v1",
        "MY_BOX_API_KEY_1": "b1",
        "LONELY_API_BASE": "http://lonely/v1",  # no key: not enabled
    }
    providers = defaults(env, tmp_path)[0].providers
    assert providers["groq"].base_url == "http://groq.local/v1"
    assert list(providers) == ["groq", "my_box"]
    box = providers["my_box"]
    assert (box.base_url, box.keys, box.kind) == (
        "http://box:9000/v1",
        (Credential("MY_BOX_API_KEY_1", "b1"),),
        "openai",
    )


def test_base_url_wins_over_api_base(tmp_path: Path) -> None:
    env = {"GROQ_API_KEY": "g", "GROQ_API_BASE": "http://a/v1", "GROQ_BASE_URL": "http://b/v1"}
    assert defaults(env, tmp_path)[0].providers["groq"].base_url == "http://b/v1"


def test_ignored_models_leave_the_default_chains(tmp_path: Path) -> None:
    env = {"GROQ_API_KEY": "g", "IGNORE_MODELS_GROQ": "llama-*"}
    chain = defaults(env, tmp_path)[0].virtual_models["chat-fast"].chain
    assert [t.label for t in chain] == []


def test_bad_values_name_the_variable(tmp_path: Path) -> None:
    env = {
        "GROQ_API_KEY": "g",
        "ROTATION_MODE_GROQ": "random",
        "MAX_CONCURRENT_REQUESTS_PER_KEY_GROQ": "lots",
        "CONCURRENCY_MULTIPLIER_GROQ_PRIORITY_1": "0",
        "ROTATION_TOLERANCE": "-2",
        "OVERRIDE_TEMPERATURE_ZERO": "maybe",
        "TIMEOUT_CONNECT": "soon",
    }
    with pytest.raises(ConfigError) as caught:
        load(None, env=env, cwd=tmp_path)
    assert [str(p) for p in caught.value.problems] == [
        "ROTATION_MODE_GROQ: expected one of balanced, sequential, got 'random'",
        "MAX_CONCURRENT_REQUESTS_PER_KEY_GROQ: expected an integer, got 'lots'",
        "CONCURRENCY_MULTIPLIER_GROQ_PRIORITY_1: must be at least 1, got 0",
        "ROTATION_TOLERANCE: expected a number of at least 0, got '-2'",
        "OVERRIDE_TEMPERATURE_ZERO: expected remove, set or false, got 'maybe'",
        "TIMEOUT_CONNECT: expected a number of seconds, got 'soon'",
    ]


def test_look_alike_variables_are_warned_by_name(tmp_path: Path) -> None:
    env = {
        "GROQ_API_KEY": "secret-value",
        "GROQ_API_KEYS": "x",
        "NVIDIA_NIM_API_KEY_1": "x",
        "IGNORE_MODELS_GORQ": "*",
        "ROTATION_MODE_GROQ_FAST": "balanced",
        "CONCURRENCY_MULTIPLIER_GROQ_PRIORITY_X": "2",
        "TIMEOUT_POOL": "60",
        "ROTATION_TOLERENCE": "1",
        "FAIR_CYCLE_GROQ": "true",
        "PROXY_API_KEY": "client",
        "HOME": "/root",
    }
    warnings = defaults(env, tmp_path)[1]
    named = [w.partition(":")[0] for w in warnings]
    assert named == [
        "CONCURRENCY_MULTIPLIER_GROQ_PRIORITY_X",
        "FAIR_CYCLE_GROQ",
        "GROQ_API_KEYS",
        "IGNORE_MODELS_GORQ",
        "NVIDIA_NIM_API_KEY_1",
        "ROTATION_MODE_GROQ_FAST",
        "ROTATION_TOLERENCE",
        "TIMEOUT_POOL",
    ]
    assert all(w.endswith("; ignored") and "secret-value" not in w for w in warnings)
    nim = warnings[named.index("NVIDIA_NIM_API_KEY_1")]
    assert "no provider 'nvidia_nim' (set NVIDIA_NIM_API_BASE" in nim


def test_the_fixture_env_loads(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text((FIXTURES / "original.env").read_text())
    config, warnings = defaults({}, tmp_path)
    assert list(config.providers) == ["groq", "gemini", "openrouter", "localbox"]
    assert config.server.api_keys == ("client-secret-one",)
    gemini = config.providers["gemini"]
    assert (gemini.rotation, gemini.max_concurrent_per_key) == ("sequential", 4)
    assert gemini.listed_models == () and gemini.serves("gemini-2.5-pro")
    assert not gemini.serves("gemini-1.5-pro")
    assert [w.partition(":")[0] for w in warnings] == ["TIMEOUT_WRITE"]
