"""The PNG: throughput by concurrency, added latency at concurrency 1, TTFT overhead."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from benchmarks.summary import RPS, Cells, p

COLORS = {
    "baton": "#1f6feb",
    "floor": "#8b949e",
    "litellm": "#d29922",
    "portkey": "#2da44e",
    "direct": "#000000",
}


def _style(name: str) -> dict:
    kind, _, workers = name.partition("-w")
    return {
        "color": COLORS.get(kind, "#6e7781"),
        "linestyle": "--" if workers else "-",
        "alpha": 0.75 if workers else 1.0,
    }


def draw(cells: Cells, order: list[str], path: Path, title: str) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(16, 5.4))
    fig.suptitle(title, fontsize=10)
    ax = axes[0]
    levels = cells.levels("nonstream")
    for name in (n for n in order if n != "direct"):  # direct is 50-100x off the scale
        pts = [(lv, cells.metric("nonstream", lv, name, RPS)) for lv in levels]
        pts = [(x, y) for x, y in pts if y is not None]
        if pts:
            st = _style(name)
            ax.plot(
                *zip(*pts, strict=True),
                marker="o",
                label=name,
                color=st["color"],
                linestyle=st["linestyle"],
                alpha=st["alpha"],
            )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(levels, [str(lv) for lv in levels])
    plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain)
    ax.tick_params(axis="y", which="minor", labelsize=7)
    ax.set_xlabel("concurrent connections")
    ax.set_ylabel("requests / s (median of rounds)")
    ax.set_title(
        "Throughput, non-streaming (system under test, client and upstream share 2 cores)",
        fontsize=9,
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)

    def bars(ax, scenario: str, level: int, get, title: str, unit: str) -> None:
        names = [n for n in order if n != "direct" and cells.rounds(scenario, level, n)]
        values = [cells.delta(scenario, level, n, get) for n in names]
        shown = [(n, v) for n, v in zip(names, values, strict=True) if v is not None]
        if not shown:
            ax.set_visible(False)
            return
        ax.bar(
            [n for n, _ in shown],
            [v for _, v in shown],
            color=[_style(n)["color"] for n, _ in shown],
        )
        ax.set_yscale("symlog", linthresh=0.1)
        for i, (_, v) in enumerate(shown):
            ax.annotate(f"{v:.2f}", (i, max(v, 1e-3)), ha="center", va="bottom", fontsize=8)
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.tick_params(axis="x", rotation=30)
        ax.grid(True, axis="y", which="both", alpha=0.3)

    bars(
        axes[1],
        "nonstream",
        1,
        p("latency_ms", "p50"),
        "Added latency at concurrency 1 (p50)",
        "ms over calling the upstream directly",
    )
    top = max(cells.levels("stream") or [0])
    bars(
        axes[2],
        "stream",
        top,
        p("ttft_ms", "p50"),
        f"Time-to-first-token overhead, {top} streams (p50)",
        "ms over direct",
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
