"""`/stats` as text tables for a terminal (`baton stats`).

`render` takes the decoded `/stats` object (docs/stats.md) and returns its numbers as tables:
totals and today, providers, keys, virtual models, recent calls. It trusts nothing about the
shape: a field that is missing, null or of the wrong kind shows as "-", a section that is
missing is left out, so an older or newer gateway still renders. Times in `recent` are shown as
clock times in `tz` (the terminal's local zone by default).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Any

NONE = "-"


def render(snapshot: Any, tz: tzinfo | None = None) -> str:
    if not isinstance(snapshot, dict):
        return "baton: the gateway sent no statistics\n"
    sections = [_summary(snapshot)]
    for title, rows in (
        ("providers", _providers(snapshot)),
        ("keys", _keys(snapshot)),
        ("virtual models", _virtual_models(snapshot)),
        ("recent calls (newest first)", _recent(snapshot, tz)),
    ):
        if rows is not None:
            sections.append("\n".join([title, *rows]))
    return "\n\n".join(sections) + "\n"


def _summary(snapshot: dict[str, Any]) -> str:
    totals, today = _dict(snapshot.get("totals")), _dict(snapshot.get("today"))
    up = _duration(_num(snapshot.get("now")), _num(snapshot.get("started")))
    outcomes = ", ".join(
        f"{_count(totals.get(name))} {name}" for name in ("ok", "failed", "cut", "cancelled")
    )
    lines = [
        f"baton: up {up}; {_count(totals.get('calls'))} calls ({outcomes}),"
        f" {_count(totals.get('failovers'))} failovers, {_count(totals.get('in_flight'))} in flight"
    ]
    dropped = _num(totals.get("records_dropped"))
    if dropped:
        lines[0] += f", {_count(dropped)} telemetry records dropped"
    lines.append(
        f"today: {_count(today.get('calls'))} calls; tokens"
        f" {_count(today.get('input_tokens'))} in ({_count(today.get('cached_tokens'))} cached),"
        f" {_count(today.get('output_tokens'))} out"
        f" ({_count(today.get('reasoning_tokens'))} reasoning); cost {_usd(today.get('cost_usd'))}"
    )
    return "\n".join(lines)


def _providers(snapshot: dict[str, Any]) -> list[str] | None:
    providers = _dict(snapshot.get("providers"))
    if not providers:
        return None
    rows = []
    for name, provider in providers.items():
        p = _dict(provider)
        latency, ttft = _dict(p.get("latency_ms")), _dict(p.get("ttft_ms"))
        today, failures = _dict(p.get("today")), _dict(p.get("failures"))
        rows.append(
            [
                name,
                _text(p.get("health")),
                _count(p.get("in_flight")),
                f"{_percent(p.get('success_rate'))} of {_count(p.get('attempts'))}",
                f"{_ms(latency.get('p50'))}/{_ms(latency.get('p95'))}",
                f"{_ms(ttft.get('p50'))}/{_ms(ttft.get('p95'))}",
                _count(today.get("calls")),
                _tokens(today),
                _usd(today.get("cost_usd")),
                ", ".join(f"{kind} {_count(n)}" for kind, n in failures.items()) or NONE,
            ]
        )
    header = [
        "provider", "health", "in flight", "success", "latency p50/p95", "ttft p50/p95",
        "calls today", "tokens in/out", "cost today", "failures",
    ]  # fmt: skip
    return _table(header, rows, "llrrrrrrrl")


def _keys(snapshot: dict[str, Any]) -> list[str] | None:
    rows = []
    for provider_name, provider in _dict(snapshot.get("providers")).items():
        for alias, key in _dict(_dict(provider).get("keys")).items():
            k, today = _dict(key), _dict(_dict(key).get("today"))
            rows.append(
                [
                    provider_name,
                    alias,
                    _count(k.get("in_flight")),
                    f"{_count(k.get('successes'))} of {_count(k.get('attempts'))}",
                    _cooling(k.get("cooling")),
                    _windows(k.get("windows")),
                    _count(today.get("calls")),
                    _tokens(today),
                    _usd(today.get("cost_usd")),
                ]
            )
    if not rows:
        return None
    header = [
        "provider", "key", "in flight", "ok", "cooling", "windows left/limit",
        "calls today", "tokens in/out", "cost today",
    ]  # fmt: skip
    return _table(header, rows, "llrrllrrr")


def _virtual_models(snapshot: dict[str, Any]) -> list[str] | None:
    models = _dict(snapshot.get("virtual_models"))
    if not models:
        return None
    rows = []
    for name, model in models.items():
        m = _dict(model)
        chain, effective = _labels(m.get("chain")), _labels(m.get("effective"))
        rows.append([name, _text(m.get("order")), chain, effective])
    return _table(["model", "order", "chain", "walked now"], rows, "llll")


def _recent(snapshot: dict[str, Any], tz: tzinfo | None) -> list[str] | None:
    calls = snapshot.get("recent")
    if not isinstance(calls, list) or not calls:
        return None
    rows = []
    for call in calls:
        c = _dict(call)
        rows.append(
            [
                _clock(c.get("started"), tz),
                _text(c.get("model")),
                _text(c.get("route")),
                _text(c.get("outcome")),
                _text(c.get("status")),
                "stream" if c.get("stream") is True else "",
                _ms(c.get("duration_ms")),
                _ms(c.get("ttft_ms")),
            ]
        )
    header = ["time", "model", "route", "outcome", "status", "", "duration", "ttft"]
    return _table(header, rows, "llllrlrr")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str) -> list[str]:
    """Columns two spaces apart; `align` says, per column, l(eft) or r(ight)."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [
            cell.rjust(width) if side == "r" else cell.ljust(width)
            for cell, width, side in zip(row, widths, align, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return [lines[0], "  ".join("-" * width for width in widths), *lines[1:]]


def _cooling(value: Any) -> str:
    if not isinstance(value, list) or not value:
        return NONE
    parts = []
    for entry in value:
        e = _dict(entry)
        remaining = _num(e.get("remaining_s"))
        left = "probing" if remaining == 0 else NONE if remaining is None else f"{remaining:g}s"
        strikes = _num(e.get("strikes"))
        times = f" x{strikes:g}" if strikes is not None else ""
        parts.append(f"{_text(e.get('scope'))} {left} ({_text(e.get('cause'))}{times})")
    return "; ".join(parts)


def _windows(value: Any) -> str:
    windows = _dict(value)
    parts = [
        f"{name} {_count(_dict(w).get('remaining'))}/{_count(_dict(w).get('limit'))}"
        for name, w in windows.items()
    ]
    return ", ".join(parts) or NONE


def _labels(value: Any) -> str:
    if not isinstance(value, list):
        return NONE
    return ", ".join(str(item) for item in value) or "(empty)"


def _tokens(section: dict[str, Any]) -> str:
    return f"{_count(section.get('input_tokens'))}/{_count(section.get('output_tokens'))}"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if math.isfinite(value) else None


def _text(value: Any) -> str:
    if value is None or isinstance(value, dict | list):
        return NONE
    return str(value)


def _count(value: Any) -> str:
    number = _num(value)
    return NONE if number is None else f"{number:,.0f}"


def _percent(value: Any) -> str:
    number = _num(value)
    return NONE if number is None else f"{number * 100:.1f}%"


def _ms(value: Any) -> str:
    number = _num(value)
    if number is None:
        return NONE
    return f"{number:.0f}ms" if number < 1000 else f"{number / 1000:.2f}s"


def _usd(value: Any) -> str:
    number = _num(value)
    if number is None:
        return NONE
    return f"${number:,.2f}" if number >= 100 else f"${number:.4f}"


def _duration(now: float | None, started: float | None) -> str:
    if now is None or started is None or now < started:
        return NONE
    minutes, seconds = divmod(int(now - started), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours}h {minutes:02d}m"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {seconds:02d}s"


def _clock(value: Any, tz: tzinfo | None) -> str:
    number = _num(value)
    if number is None:
        return NONE
    try:
        moment = datetime.fromtimestamp(number, tz) if tz else datetime.fromtimestamp(number)
    except (OverflowError, OSError, ValueError):
        return NONE
    return moment.strftime("%H:%M:%S")
