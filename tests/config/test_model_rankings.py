"""`model_rankings:` and `order: ranked`: chains by score, unscored after, down providers last."""

from pathlib import Path

import pytest

from actors.health_book import HealthBook
from actors.routing import Router, effective_chain
from config import ConfigError, load, load_text
from config.model import Target

BASE = """
providers:
  a: {base_url: "http://127.0.0.1:9/v1", keys: [k], models: ["*"]}
  b: {base_url: "http://127.0.0.1:9/v1", keys: [k], models: ["*"]}
virtual_models:
  coding:
    chain: [a/slow-model, b/moonshotai/Kimi-K2-Instruct, a/qwen-3-coder-480b, b/unscored]
    order: ranked
"""


def test_inline_scores_order_the_chain_highest_first_unscored_last() -> None:
    text = BASE + (
        "model_rankings:\n  scores: {qwen-3-coder-480b: 69.6, 'kimi-k2*': 65.8, slow-model: 40}\n"
    )
    router = Router(load_text(text, env={}).config)
    chain = effective_chain(router, HealthBook(), "coding", now=0.0)
    assert chain == (
        Target("a", "qwen-3-coder-480b"),
        Target("b", "moonshotai/Kimi-K2-Instruct"),  # by its name without the vendor prefix
        Target("a", "slow-model"),
        Target("b", "unscored"),
    )


def test_the_forks_file_with_a_metric_and_inline_scores_over_it(tmp_path: Path) -> None:
    (tmp_path / "model_rankings.yaml").write_text(
        "models:\n"
        "  - {id: slow-model, scores: {swe_bench: 80, humaneval: 10}}\n"
        "  - {id: qwen-3-coder-480b, scores: {swe_bench: 60, humaneval: 95}}\n"
        "  - {id: unscored, scores: {humaneval: 99}}\n"
    )
    (tmp_path / "baton.yaml").write_text(
        BASE
        + "model_rankings:\n  metric: swe_bench\n  file: model_rankings.yaml\n"
        + "  scores: {unscored: 1}\n"
    )
    loaded = load(None, env={}, cwd=tmp_path)
    chain = effective_chain(Router(loaded.config), HealthBook(), "coding", now=0.0)
    assert [target.model for target in chain] == [
        "slow-model",
        "qwen-3-coder-480b",
        "unscored",
        "moonshotai/Kimi-K2-Instruct",
    ]


def test_ranked_without_scores_warns_and_a_missing_file_is_an_error(tmp_path: Path) -> None:
    assert any("ranked, but" in w for w in load_text(BASE, env={}).warnings)
    with pytest.raises(ConfigError) as raised:
        load_text(BASE + "model_rankings: {file: /nonexistent/rankings.yaml}\n", env={})
    assert "model_rankings.file: cannot read" in str(raised.value)
