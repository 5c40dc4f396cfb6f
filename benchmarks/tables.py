"""The Markdown tables of a report, one function per table, from `summary.Cells`."""

from __future__ import annotations

from benchmarks.summary import (
    CLIENT_PER,
    CPU_PER,
    CPU_PER_CHUNK,
    MB,
    RPS,
    UPSTREAM_PER,
    Cells,
    count,
    errors,
    failover_hits,
    idle_row,
    median,
    p,
)


def fmt(v, digits: int = 1, suffix: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and abs(v) >= 100 and digits <= 1:
        return f"{v:,.0f}{suffix}"
    return f"{v:,.{digits}f}{suffix}"


def table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def _ref(cells: Cells, sc: str, level: int) -> str | None:
    for ref in ("portkey", "direct"):
        if cells.rounds(sc, level, ref):
            return ref
    return None


def _failed(cells: Cells, sc: str, level: int, name: str) -> list[str] | None:
    if not cells.rounds(sc, level, name):
        why = cells.failures(sc, level, name)
        return [f"failed: {why[0][:60]}" if why else "-"]
    return None


def nonstream_table(cells: Cells, order: list[str], sc: str = "nonstream") -> str:
    rows = []
    for level in cells.levels(sc):
        ref = _ref(cells, sc, level)
        for name in cells.systems(sc, level, order):
            lat = lambda q: p("latency_ms", q)  # noqa: E731
            fail = _failed(cells, sc, level, name)
            if fail:
                rows.append([str(level), name, *fail, *["" for _ in range(8)]])
                continue
            row = [
                str(level),
                name,
                fmt(cells.metric(sc, level, name, RPS)),
                fmt(cells.per_round_ratio(sc, level, name, ref, RPS), 2, "x") if ref else "-",
                fmt(cells.metric(sc, level, name, lat("p50")), 2),
                fmt(cells.metric(sc, level, name, lat("p99")), 2),
                fmt(cells.delta(sc, level, name, lat("p50")), 2),
                fmt(cells.delta(sc, level, name, lat("p99")), 2),
                fmt(cells.metric(sc, level, name, CPU_PER), 3) if name != "direct" else "-",
            ]
            if sc.startswith("failover"):
                row.append(fmt(cells.metric(sc, level, name, failover_hits), 2))
            row.append(str(errors(cells, sc, level, name)))
            rows.append(row)
    ref_note = "Portkey" if "portkey" in order else "direct"
    header = [
        "conc.",
        "system",
        "req/s",
        f"÷ {ref_note}",
        "p50 ms",
        "p99 ms",
        "added p50 ms",
        "added p99 ms",
        "server CPU ms/req",
    ]
    if sc.startswith("failover"):
        header.append("429s per request")
    return table([*header, "errors"], rows)


def stream_table(cells: Cells, order: list[str]) -> str:
    sc, rows = "stream", []
    for level in cells.levels(sc):
        for name in cells.systems(sc, level, order):
            fail = _failed(cells, sc, level, name)
            if fail:
                rows.append([str(level), name, *fail, *["" for _ in range(9)]])
                continue
            rows.append(
                [
                    str(level),
                    name,
                    fmt(cells.metric(sc, level, name, RPS), 1),
                    f"{count(cells, sc, level, name, 'ttft_ms'):,}",
                    fmt(cells.metric(sc, level, name, p("ttft_ms", "p50")), 2),
                    fmt(cells.metric(sc, level, name, p("ttft_ms", "p99", 50)), 2),
                    fmt(cells.delta(sc, level, name, p("ttft_ms", "p50")), 2),
                    fmt(cells.metric(sc, level, name, p("gap_ms", "p50")), 2),
                    fmt(cells.metric(sc, level, name, p("gap_ms", "p99")), 2),
                    fmt(cells.delta(sc, level, name, p("gap_ms", "p99")), 2),
                    fmt(cells.metric(sc, level, name, CPU_PER_CHUNK), 3)
                    if name != "direct"
                    else "-",
                    str(errors(cells, sc, level, name)),
                ]
            )
    return table(
        [
            "streams",
            "system",
            "streams/s",
            "first tokens",
            "TTFT p50 ms",
            "TTFT p99 ms",
            "TTFT added p50 ms",
            "gap p50 ms",
            "gap p99 ms",
            "gap p99 added ms",
            "server CPU ms/chunk",
            "errors",
        ],
        rows,
    )


def _lingering(r: dict) -> str:
    if r["lingering"] is None:
        return "-"
    if r["cleared_s"] is not None:
        return f"{r['lingering']:,}; none after {r['cleared_s']:.1f} s"
    return f"{r['lingering']:,}; some still after 10 s"


def idle_table(cells: Cells, order: list[str]) -> str:
    sc, rows = "idle", []
    for level in cells.levels(sc):
        for name in cells.systems(sc, level, order):
            runs = cells.rounds(sc, level, name)
            if not runs:
                rows.append(
                    [str(level), name, *_failed(cells, sc, level, name), *["" for _ in range(7)]]
                )
                continue
            r = idle_row(next(iter(runs.values())))
            why = ", ".join(f"{k}: {v:,}" for k, v in r["why"].items())
            rows.append(
                [
                    str(level),
                    name,
                    f"{r['streams']:,}",
                    f"{r['held']:,}",
                    f"{r['dropped']:,}" + (f" ({why})" if why else ""),
                    fmt(r["open_s"], 1),
                    fmt(r["rss_before"]),
                    fmt(r["rss_open"]),
                    fmt(r["kb_per_stream"]),
                    fmt(r["pss_kb_per_stream"]),
                    fmt(r["rss_after"]),
                    _lingering(r),
                ]
            )
    return table(
        [
            "asked",
            "system",
            "streams",
            "held open",
            "dropped",
            "all open after s",
            "RSS before MB",
            "RSS all open MB",
            "RSS KB/stream",
            "PSS KB/stream",
            "RSS after close MB",
            "upstream streams open 2 s after close",
        ],
        rows,
    )


def systems_table(data: dict, order: list[str]) -> str:
    rows = []
    for name in order:
        info = data["systems"].get(name, {})
        if name == "direct":
            continue
        if "failed" in info:
            last = [ln for ln in info["failed"].splitlines() if ln.strip()][-1][:90]
            why = last.replace("|", "/").replace("`", "'")
            rows.append([name, str(info["workers"]), f"failed to start: `{why}`", *[""] * 6])
            continue
        mem = lambda key, field="rss": fmt(info[key][field] / MB) if key in info else "-"  # noqa
        rows.append(
            [
                name,
                str(info["workers"]),
                fmt(median(info["startup_s"]), 2),
                f"{len(info['startup_s'])}",
                mem("idle"),
                mem("idle", "pss"),
                mem("rss_after_load"),
                mem("rss_end"),
                str(info.get("idle", {}).get("processes", "-")),
            ]
        )
    return table(
        [
            "system",
            "workers",
            "start-up s (median)",
            "starts",
            "idle RSS MB",
            "idle PSS MB",
            "RSS after load MB",
            "RSS at end MB",
            "processes",
        ],
        rows,
    )


def harness_table(cells: Cells) -> str:
    rows = []
    for sc in ("nonstream", "stream"):
        for level in cells.levels(sc):
            if cells.rounds(sc, level, "direct"):
                rows.append(
                    [
                        sc,
                        str(level),
                        fmt(cells.metric(sc, level, "direct", RPS)),
                        fmt(cells.metric(sc, level, "direct", CLIENT_PER), 3),
                        fmt(cells.metric(sc, level, "direct", UPSTREAM_PER), 3),
                    ]
                )
    return table(
        ["scenario", "level", "direct req/s", "client CPU ms/req", "upstream CPU ms/req"], rows
    )
