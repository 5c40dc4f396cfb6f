"""From raw cells to the numbers a reader is shown: medians of rounds, deltas, ratios.

Every "added" figure is computed round by round against `direct` measured in the same round at
the same level (so a slow spell of the machine cancels out), and the median of those deltas is
reported. Ratios between systems are likewise medians of per-round ratios.
"""

from __future__ import annotations

import statistics
from collections import defaultdict

MB = 1024 * 1024


def median(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


class Cells:
    """Raw results indexed by (scenario, level, system) -> {round: result}."""

    def __init__(self, records: list[dict]) -> None:
        self.by: dict[tuple[str, int, str], dict[int, dict]] = defaultdict(dict)
        for rec in records:
            self.by[(rec["scenario"], rec["level"], rec["system"])][rec["round"]] = rec["result"]

    def levels(self, scenario: str) -> list[int]:
        return sorted({lv for (sc, lv, _) in self.by if sc == scenario})

    def systems(self, scenario: str, level: int, order: list[str]) -> list[str]:
        present = {sy for (sc, lv, sy) in self.by if sc == scenario and lv == level}
        return [s for s in order if s in present]

    def rounds(self, scenario: str, level: int, system: str) -> dict[int, dict]:
        return {
            r: res
            for r, res in self.by.get((scenario, level, system), {}).items()
            if "failed" not in res
        }

    def failures(self, scenario: str, level: int, system: str) -> list[str]:
        return [
            res["failed"]
            for res in self.by.get((scenario, level, system), {}).values()
            if "failed" in res
        ]

    def metric(self, scenario, level, system, get) -> float | None:
        return median(_safe(get, res) for res in self.rounds(scenario, level, system).values())

    def delta(self, scenario, level, system, get, base: str = "direct") -> float | None:
        """Median over rounds of get(system) - get(base), both from the same round."""
        mine, theirs = self.rounds(scenario, level, system), self.rounds(scenario, level, base)
        return median(_sub(_safe(get, mine[r]), _safe(get, theirs[r])) for r in mine if r in theirs)

    def per_round_ratio(self, scenario, level, a: str, b: str, get) -> float | None:
        mine, theirs = self.rounds(scenario, level, a), self.rounds(scenario, level, b)
        return median(
            ratio(_safe(get, mine[r]), _safe(get, theirs[r])) for r in mine if r in theirs
        )


def _safe(get, res):
    try:
        return get(res)
    except (KeyError, TypeError, ZeroDivisionError):
        return None


def _sub(a, b):
    return a - b if a is not None and b is not None else None


def p(name: str, pct: str, min_n: int = 0):
    """Percentile `pct` of distribution `name`; None (shown "-") when under `min_n` samples."""

    def get(res: dict) -> float:
        dist = res[name]
        if dist["n"] < min_n:
            raise KeyError(name)
        return dist[pct]

    return get


def count(cells: Cells, scenario: str, level: int, system: str, name: str) -> int:
    """Samples of distribution `name` over every round."""
    return sum(
        (res.get(name) or {}).get("n", 0) for res in cells.rounds(scenario, level, system).values()
    )


RPS = lambda res: res["rps"]  # noqa: E731
CPU_PER = lambda res: res["cpu_ms"]["server"] / res["completed"]  # noqa: E731
CPU_PER_CHUNK = lambda res: res["cpu_ms"]["server"] / res["chunks"]  # noqa: E731
CLIENT_PER = lambda res: res["client_cpu_ms"] / res["completed"]  # noqa: E731
UPSTREAM_PER = lambda res: res["cpu_ms"]["upstream"] / res["completed"]  # noqa: E731


def errors(cells: Cells, scenario, level, system) -> int:
    total = 0
    for res in cells.rounds(scenario, level, system).values():
        total += sum(res.get("errors", {}).values())
    return total


def failover_hits(res: dict) -> float | None:
    """Requests the failing candidate received per request served."""
    ups = res["upstream"]
    served = ups["ok"]["requests"]
    failed = sum(v["requests"] for k, v in ups.items() if k != "ok")
    return failed / served if served else None


def idle_row(res: dict) -> dict:
    n = res["streams"]
    held = res["held"]
    before, at, after = res["memory_before"], res["memory_all_open"], res["memory_after_close"]
    return {
        "streams": n,
        "held": held,
        "dropped": res["dropped"],
        "why": res["why_dropped"],
        "rss_before": before["rss"] / MB,
        "rss_open": at["rss"] / MB,
        "rss_after": after["rss"] / MB,
        "lingering": res.get("upstream_streams_after_close"),
        "cleared_s": res.get("upstream_streams_cleared_s"),
        "kb_per_stream": (at["rss"] - before["rss"]) / held / 1024 if held else None,
        "pss_kb_per_stream": (at["pss"] - before["pss"]) / held / 1024 if held else None,
        "open_s": res["all_first_token_s"],
        "fds": at["fds"],
    }
