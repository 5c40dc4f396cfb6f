"""`effective_chain`: the configured chain, in the order the model asks, down providers last."""

from __future__ import annotations

import textwrap

from actors.health_book import HealthBook
from actors.routing import Router, effective_chain
from config import Target, load_text
from protocols.failures import FailureClass

CONFIG = """
providers:
  a: {base_url: "http://127.0.0.1:1/v1", keys: [ka], models: [m, only-a], priority: 3}
  b: {base_url: "http://127.0.0.1:2/v1", keys: [kb], models: [m], priority: 1}
  c: {base_url: "http://127.0.0.1:3/v1", keys: [kc], models: [m], priority: 2}
virtual_models:
  listed: {chain: [a/m, b/m, c/m]}
  by-priority: {chain: [a/m, b/m, c/m], order: priority}
  by-latency: {chain: [a/m, b/m, c/m], order: latency}
  short: [a/m, b/m]
"""


def setup() -> tuple[Router, HealthBook]:
    config = load_text(textwrap.dedent(CONFIG), env={}).config
    return Router(config), HealthBook.for_config(config)


def labels(chain: tuple[Target, ...] | None) -> list[str] | None:
    return None if chain is None else [target.label for target in chain]


def test_order_is_the_virtual_models_and_listed_elsewhere() -> None:
    router, _ = setup()
    assert router.order_for("by-priority") == "priority"
    assert router.order_for("by-latency") == "latency"
    assert router.order_for("listed") == "listed"
    assert router.order_for("short") == "listed"
    assert router.order_for("m") == "listed"  # a bare name: already by priority
    assert router.order_for("a/m") == "listed"


def test_without_health_news_the_configured_order_stands() -> None:
    router, book = setup()
    assert labels(effective_chain(router, book, "listed", 0.0)) == ["a/m", "b/m", "c/m"]
    assert labels(effective_chain(router, book, "by-priority", 0.0)) == ["b/m", "c/m", "a/m"]
    assert labels(effective_chain(router, book, "by-latency", 0.0)) == ["a/m", "b/m", "c/m"]
    assert labels(effective_chain(router, book, "m", 0.0)) == ["b/m", "c/m", "a/m"]
    assert labels(effective_chain(router, book, "a/only-a", 0.0)) == ["a/only-a"]
    assert effective_chain(router, book, "nope", 0.0) is None


def test_down_providers_go_last_and_come_back_when_they_recover() -> None:
    router, book = setup()
    book.observe_probe("b", FailureClass.CONNECT, 0.1, 10.0)
    assert labels(effective_chain(router, book, "listed", 11.0)) == ["a/m", "c/m", "b/m"]
    assert labels(effective_chain(router, book, "by-priority", 11.0)) == ["c/m", "a/m", "b/m"]
    assert labels(effective_chain(router, book, "m", 11.0)) == ["c/m", "a/m", "b/m"]
    assert labels(effective_chain(router, book, "short", 11.0)) == ["a/m", "b/m"]
    book.observe_probe("b", None, 0.1, 20.0)
    assert labels(effective_chain(router, book, "by-priority", 21.0)) == ["b/m", "c/m", "a/m"]


def test_latency_order_follows_the_averages() -> None:
    router, book = setup()
    book.observe_call("c", None, 0.1, 1.0)
    book.observe_call("a", None, 0.4, 1.0)
    assert labels(effective_chain(router, book, "by-latency", 2.0)) == ["c/m", "a/m", "b/m"]
    assert labels(effective_chain(router, book, "listed", 2.0)) == ["a/m", "b/m", "c/m"]
