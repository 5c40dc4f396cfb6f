"""`state:`, `cluster:` and `BATON_STATE_URL`: shared state, or nothing changes."""

from pathlib import Path

import pytest

from config import ConfigError, load, load_text
from edge.logs import config_secrets

ONE = "providers:\n  a: {base_url: 'http://127.0.0.1:9/v1', keys: [k]}\n"


def test_no_state_means_per_process_state() -> None:
    config = load_text(ONE, env={}).config
    assert not config.state.shared and config.state.cluster == "baton"


def test_state_and_cluster_and_the_password_kept_secret() -> None:
    text = ONE + "state: redis://:s3cret@redis.internal:6379/2\ncluster: team-a\n"
    config = load_text(text, env={}).config
    assert config.state.shared and config.state.cluster == "team-a"
    assert "s3cret" not in repr(config)
    assert "s3cret" in config_secrets(config)  # scrubbed from every log line


def test_the_environment_variable_serves_when_the_file_says_nothing(tmp_path: Path) -> None:
    env = {"BATON_STATE_URL": "rediss://cache:6380/0", "GROQ_API_KEY": "g"}
    assert load_text(ONE, env=env).config.state.url == "rediss://cache:6380/0"
    assert load(None, env=env, cwd=tmp_path).config.state.url == "rediss://cache:6380/0"
    file_wins = load_text(ONE + "state: redis://here:1/0\n", env=env).config
    assert file_wins.state.url == "redis://here:1/0"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("state: http://redis:6379\n", "state: expected a redis:// or rediss:// URL"),
        ("state: [1]\n", "state: expected a redis:// or rediss:// URL, got a list"),
        ("state: redis://h:1/0\ncluster: 'a b'\n", "cluster: expected a name"),
    ],
)
def test_bad_state_settings_name_their_path(extra: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_text(ONE + extra, env={})
    assert message in str(raised.value)


def test_the_fleet_example_loads_as_docker_compose_runs_it() -> None:
    root = Path(__file__).resolve().parents[2]
    env = {
        "PROXY_API_KEY": "client",
        "GROQ_API_KEY": "g",
        "GEMINI_API_KEY": "m",
        "BATON_STATE_URL": "redis://valkey:6379/0",
    }
    config = load(root / "deploy" / "baton.yaml", env=env, cwd=root).config
    assert config.state.url == "redis://valkey:6379/0" and config.state.cluster == "fleet"
    compose = (root / "docker-compose.yml").read_text()
    assert "BATON_STATE_URL: redis://valkey:6379/0" in compose and "--workers" in compose
