"""`baton stats` tables, from the /stats example in docs/stats.md and from broken snapshots."""

from __future__ import annotations

import json
import re
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest

from edge.stats_table import render

DOC = Path(__file__).resolve().parents[2] / "docs" / "stats.md"


def documented_snapshot() -> dict[str, Any]:
    """The example of docs/stats.md, its `//` comments taken out: what the tables are for."""
    block = re.search(r"```json\n(.*?)```", DOC.read_text(), re.S)
    assert block is not None
    return json.loads(re.sub(r"\s+//[^\n]*", "", block[1]))


def section(text: str, title: str) -> list[list[str]]:
    """The rows of the table under `title`, split into cells (two spaces or more apart)."""
    lines = text.rstrip("\n").split("\n\n")
    block = next(part for part in lines if part.startswith(title + "\n"))
    rows = block.split("\n")[1:]
    assert set(rows[1]) <= {"-", " "}  # the rule under the header
    return [re.split(r" {2,}", row.strip()) for row in [rows[0], *rows[2:]]]


def test_summary_lines() -> None:
    text = render(documented_snapshot(), UTC)
    first, second = text.split("\n")[:2]
    assert first == (
        "baton: up 1h 00m; 120 calls (110 ok, 6 failed, 2 cut, 2 cancelled), 14 failovers,"
        " 3 in flight"
    )
    assert second == (
        "today: 120 calls; tokens 5,000 in (0 cached), 8,000 out (0 reasoning); cost $0.0123"
    )


def test_providers_table() -> None:
    header, alpha = section(render(documented_snapshot(), UTC), "providers")
    row = dict(zip(header, alpha, strict=True))
    assert row == {
        "provider": "alpha",
        "health": "up",
        "in flight": "1",
        "success": "87.5% of 40",
        "latency p50/p95": "380ms/900ms",
        "ttft p50/p95": "410ms/950ms",
        "calls today": "35",
        "tokens in/out": "1,000/2,000",
        "cost today": "$0.0040",
        "failures": "rate_limit 4, timeout 1",
    }


def test_keys_table() -> None:
    header, key = section(render(documented_snapshot(), UTC), "keys")
    row = dict(zip(header, key, strict=True))
    assert row == {
        "provider": "alpha",
        "key": "alpha#1",
        "in flight": "1",
        "ok": "18 of 20",
        "cooling": "model m-large 12.5s (rate_limit x2)",
        "windows left/limit": "rpm 48/60, upstream requests 3/1,000",
        "calls today": "18",
        "tokens in/out": "500/900",
        "cost today": "$0.0020",
    }


def test_virtual_models_table() -> None:
    rows = section(render(documented_snapshot(), UTC), "virtual models")
    assert rows == [
        ["model", "order", "chain", "walked now"],
        ["coding-elite", "priority", "alpha/m-large, beta/m-large", "beta/m-large, alpha/m-large"],
    ]


def test_recent_calls_table() -> None:
    rows = section(render(documented_snapshot(), UTC), "recent calls (newest first)")
    assert rows[1] == [
        "12:59:59",  # 1764939599.2 in UTC
        "coding-elite",
        "alpha/m-large=429,beta/m-large=200",
        "ok",
        "200",
        "stream",
        "812ms",
        "300ms",
    ]


def test_no_secret_shaped_text_is_invented() -> None:
    text = render(documented_snapshot(), UTC)
    assert "Bearer" not in text and "sk-" not in text


def test_units_and_states() -> None:
    snapshot = {
        "now": 200_000.0,
        "started": 10_000.0,  # 2d 4h 46m 40s
        "providers": {
            "beta": {
                "latency_ms": {"p50": 1234.0, "p95": None},
                "today": {"cost_usd": 1234.5},
                "keys": {
                    "BETA_KEY": {
                        "cooling": [
                            {"scope": "all models", "remaining_s": 0, "cause": "auth"},
                            {"scope": "group kimi", "remaining_s": 3.25, "strikes": 1,
                             "cause": "rate_limit"},
                        ]
                    }
                },
            }
        },
    }  # fmt: skip
    text = render(snapshot, UTC)
    assert text.startswith("baton: up 2d 4h 46m;")
    header, beta = section(text, "providers")
    row = dict(zip(header, beta, strict=True))
    assert row["latency p50/p95"] == "1.23s/-"
    assert row["cost today"] == "$1,234.50"
    assert row["success"] == "- of -"
    header, key = section(text, "keys")
    assert dict(zip(header, key, strict=True))["cooling"] == (
        "all models probing (auth); group kimi 3.25s (rate_limit x1)"
    )


@pytest.mark.parametrize(
    "snapshot",
    [
        {},
        {"totals": None, "today": [], "providers": "x", "virtual_models": 3, "recent": {}},
        {"providers": {"p": None, "q": {"keys": {"k": 3}}}, "recent": [None, {"started": 1e300}]},
        {"virtual_models": {"v": {"chain": "a/b", "effective": []}}},
        {"now": float("nan"), "started": True, "totals": {"calls": "many"}},
    ],
)
def test_a_broken_snapshot_still_renders(snapshot: dict[str, Any]) -> None:
    text = render(snapshot, UTC)
    assert text.startswith("baton: up -; ")
    assert text.endswith("\n") and "None" not in text


def test_missing_sections_are_left_out() -> None:
    text = render({"totals": {"calls": 0}}, UTC)
    assert text.startswith("baton: up -; 0 calls (- ok,")
    for title in ("providers", "keys", "virtual models", "recent calls"):
        assert f"\n{title}" not in text


def test_junk_cells_show_as_a_dash() -> None:
    rows = section(render({"providers": {"p": {"keys": {"k": 3}}, "q": None}}, UTC), "keys")
    assert rows[1] == ["p", "k", "-", "- of -", "-", "-", "-", "-/-", "-"]
    rows = section(
        render({"virtual_models": {"v": {"chain": "a/b", "effective": []}}}), "virtual models"
    )
    assert rows[1] == ["v", "-", "-", "(empty)"]


def test_not_an_object() -> None:
    assert render(["x"]) == "baton: the gateway sent no statistics\n"
