"""`baton import`: LLM-API-Key-Proxy's files in, a baton.yaml out that loads to the same
configuration as the `.env` read directly."""

import os
import shutil
import subprocess
from pathlib import Path

import yaml

from config import Config, load, load_text
from config.env import read_environment
from config.importer import import_original
from tests.e2e.harness import BATON

FIXTURES = Path(__file__).parent / "fixtures"
ROUTER_FLAG = ("--router", "router_config.yaml")
ROOT = Path(__file__).resolve().parents[2]  # the command runs this checkout from elsewhere
SECRETS = ("gem-key-aaa", "gem-key-bbb", "groq-key-ccc", "or-key-ddd", "local-key-eee")


def fixture_env() -> dict[str, str]:
    return dict(read_environment({}, FIXTURES / "original.env").variables)


def comparable(config: Config) -> dict[str, object]:
    """What the `.env` decides, provider by provider, with the empty default chains left out
    (a baton.yaml chain may not be empty)."""
    return {
        "providers": dict(config.providers),
        "api_keys": config.server.api_keys,
        "timeouts": config.timeouts,
        "virtual_models": {n: v for n, v in config.virtual_models.items() if v.chain},
    }


def test_the_output_loads_to_what_the_env_gives(tmp_path: Path) -> None:
    env = fixture_env()
    text = import_original(env)
    for secret in SECRETS:
        assert secret not in text
    direct = load(None, env=env, cwd=tmp_path).config
    imported = load_text(text, env=env).config
    assert comparable(imported) == comparable(direct)
    gemini = imported.providers["gemini"]
    assert gemini.tier_multipliers == {1: 5, 2: 2} and gemini.temperature_zero == "remove"


def test_a_changed_field_would_be_noticed(tmp_path: Path) -> None:
    env = fixture_env()
    text = import_original(env).replace("rotation: sequential", "rotation: balanced")
    direct = load(None, env=env, cwd=tmp_path).config
    assert comparable(load_text(text, env=env).config) != comparable(direct)


def test_tiers_and_a_custom_temperature_are_written() -> None:
    from config.importer import provider_fields
    from config.model import Credential, ProviderConfig

    provider = ProviderConfig(
        name="p",
        base_url="http://h/v1",
        keys=(Credential("P_API_KEY", "s"), Credential("P_API_KEY_2", "t", tier=2)),
        temperature_zero="set",
        temperature_zero_value=0.5,
    )
    fields = provider_fields(provider)
    assert fields["keys"] == ["${P_API_KEY}", {"key": "${P_API_KEY_2}", "tier": 2}]
    assert fields["temperature_zero"] == 0.5


def test_fork_files_become_chains_and_the_rest_is_noted() -> None:
    env = {**fixture_env(), "CEREBRAS_TOKEN": "cb"}
    router = yaml.safe_load((FIXTURES / "router_config.yaml").read_text())
    virtual = yaml.safe_load((FIXTURES / "virtual_models.yaml").read_text())
    rankings = yaml.safe_load((FIXTURES / "model_rankings.yaml").read_text())
    text = import_original(env, virtual, router, rankings)
    config = load_text(text, env=env).config
    assert [t.label for t in config.virtual_models["coding-best"].chain] == [
        "gemini/gemini-2.5-pro",
        "groq/moonshotai/kimi-k2-instruct",
    ]
    assert [t.label for t in config.virtual_models["router-quick"].chain] == [
        "cerebras/llama-3.3-70b",
        "groq/llama-3.1-8b-instant",
    ]
    assert config.providers["cerebras"].models == ("llama-3.3-70b", "qwen-3-32b")
    assert "cb" not in text.replace("cerebras", "")
    notes = [line for line in text.splitlines() if line.startswith("# not mapped: ")]
    assert notes == [
        "# not mapped: .env: TIMEOUT_WRITE: not a timeout baton reads (it reads TIMEOUT_CONNECT,"
        " TIMEOUT_READ_NON_STREAMING, TIMEOUT_READ_STREAMING); ignored",
        "# not mapped: router_config.yaml: mistral (disabled)",
        "# not mapped: router_config.yaml: router/quick (renamed router-quick: no '/' in a"
        " baton name)",
        "# not mapped: router_config.yaml: free_only_mode (no counterpart)",
        "# not mapped: router_config.yaml: routing (no counterpart)",
        "# not mapped: virtual_models.yaml: coding-best: nowhere/some-model"
        " (provider not configured)",
        "# not mapped: virtual_models.yaml: coding-best: gemini/gemini-1.5-pro"
        " (taken away by ignore_models)",
        "# not mapped: virtual_models.yaml: coding-best: settings (no counterpart)",
    ]
    # the rankings' swe_bench scores, which auto_order chains follow
    assert config.rankings.score_of("groq/llama-3.3-70b-versatile") == 50.0
    assert config.virtual_models["coding-best"].order == "ranked"
    assert config.virtual_models["router-quick"].order == "listed"


def test_baton_import_end_to_end(tmp_path: Path) -> None:
    for name in ("original.env", "virtual_models.yaml", "router_config.yaml"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    (tmp_path / "original.env").rename(tmp_path / ".env")
    clean = {k: v for k, v in os.environ.items() if "_API_KEY" not in k and "_API_BASE" not in k}
    clean["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [*BATON, "import", "--virtual-models", "virtual_models.yaml", *ROUTER_FLAG],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    for secret in SECRETS:
        assert secret not in result.stdout
    (tmp_path / "baton.yaml").write_text(result.stdout)
    imported = load(None, env=clean, cwd=tmp_path).config  # baton.yaml + the .env beside it
    assert imported.source.endswith("baton.yaml")
    (tmp_path / "baton.yaml").unlink()
    direct = load(None, env=clean, cwd=tmp_path).config
    assert comparable(imported)["providers"] == comparable(direct)["providers"]
    assert imported.timeouts == direct.timeouts and imported.server == direct.server
    assert "coding-best" in imported.virtual_models


def test_baton_import_without_an_env_fails_cleanly(tmp_path: Path) -> None:
    result = subprocess.run(
        [*BATON, "import"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 1
    assert "baton: cannot import: .env: no such file" in result.stderr
