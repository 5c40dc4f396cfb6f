"""Writing a run down: `<name>.json` (raw cells), `<name>.md` (tables), `<name>.png` (chart).

python -m benchmarks.report benchmarks/results/full.json   # re-render the .md and .png
"""

from __future__ import annotations

import json
import platform
import subprocess
from pathlib import Path

from benchmarks import tables, targets
from benchmarks.summary import Cells, median
from benchmarks.systems import DEFAULT, REPO


def _order(data: dict) -> list[str]:
    names = data["meta"]["systems"]
    return sorted(names, key=lambda n: DEFAULT.index(n) if n in DEFAULT else len(DEFAULT))


def _versions() -> dict[str, str]:
    def run(cmd):
        try:
            return subprocess.run(
                cmd, capture_output=True, text=True, cwd=REPO, timeout=10
            ).stdout.strip()
        except OSError:
            return "?"

    from benchmarks.peers import litellm_peer, portkey_peer

    return {
        "baton": run(["git", "rev-parse", "--short", "HEAD"])
        + (" (+ uncommitted changes)" if run(["git", "status", "--porcelain"]) else ""),
        "python": platform.python_version(),
        "node": run(["node", "--version"]),
        "litellm": litellm_peer.VERSION,
        "portkey": portkey_peer.VERSION,
        "cpu": _cpu_model(),
        "kernel": platform.release(),
    }


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def markdown(data: dict) -> str:
    cells, order, meta = Cells(data["records"]), _order(data), data["meta"]
    v = _versions()
    rounds = ", ".join(
        f"{part['scenario']} {part['rounds']}"
        for part in meta["settings"]["parts"]
        if part["scenario"] in meta["scenarios"]
    )
    out = [
        f"# baton benchmark: {'quick' if meta['quick'] else 'full'} run",
        "",
        f"{meta['started']}; {meta['cpus']} CPUs ({v['cpu']}), kernel {v['kernel']}; "
        f"baton {v['baton']}, LiteLLM {v['litellm']}, Portkey gateway {v['portkey']}, "
        f"Python {v['python']}, Node {v['node']}. Took {meta['duration_s']:.0f} s.",
        "",
        f"Every figure is the median of rounds ({rounds}), "
        'the systems alternating within each round; "added" is measured against calling the '
        "fake upstream directly in the same round. The machine is shared by client, upstream "
        "and system under test, so read ratios, not absolute times. "
        + (
            "Run inside a private network namespace (loopback only)."
            if meta["netns"]
            else "Run on the host network (all traffic to 127.0.0.1)."
        ),
        "",
        _noise(data),
        "",
        "## Targets",
        "",
        "Issue 11's targets for baton on its stack (Quart-Trio on Hypercorn, httpx2 upstreams), "
        "each judged in this run. `floor` is that stack by itself: a bare Quart-Trio app on "
        "Hypercorn's Trio worker forwarding with one httpx2 client and doing nothing else "
        "([peers/floor.py](../peers/floor.py)); `-w2` is two workers on one port.",
        "",
        targets.table(cells, data),
        "",
        "## Start-up and memory",
        "",
        tables.systems_table(data, order),
        "",
    ]
    for sc, title, build, note in _sections(cells, order):
        if cells.levels(sc):
            out += [title, "", build(), "", note, ""]
    out += _profiles(data)
    out += [
        "## Cost of the harness itself",
        "",
        "Client and fake upstream CPU per request when calling the upstream directly: what "
        "the load driver and upstream take from the two cores the system under test shares.",
        "",
        tables.harness_table(cells),
        "",
    ]
    remote = {n: i.get("remote_peers") for n, i in data["systems"].items() if i.get("remote_peers")}
    out += [f"Non-loopback peers seen on any system's sockets: {remote or 'none'}.", ""]
    if data.get("notes"):
        out += ["## Notes", "", *[f"- {n}" for n in data["notes"]], ""]
    return "\n".join(out)


_ADDED = (
    '"added": this system minus calling the upstream directly, in the same round (negative '
    "values are within the machine's noise). "
)


def _sections(cells: Cells, order: list[str]) -> list[tuple]:
    """(scenario, title, table builder, how to read it) for each scenario table."""
    return [
        (
            "nonstream",
            "## Non-streaming chat completions",
            lambda: tables.nonstream_table(cells, order),
            "req/s: answers completed per second inside the measured window. "
            "÷ Portkey: this system's req/s over Portkey's in the same round. "
            + _ADDED
            + "server CPU ms/req: CPU time of the system's whole process tree per answer, "
            "which depends less on what else the machine was doing than req/s does.",
        ),
        (
            "stream",
            "## Streaming: 50 chunks, 20 ms apart",
            lambda: tables.stream_table(cells, order),
            "TTFT: from sending the request to receiving the first chunk of text; first "
            "tokens: how many TTFT samples all rounds gave (p99 is shown from 50). gap: time "
            "between two chunks of one stream (the upstream sends one every 20 ms). "
            + _ADDED
            + "streams/s: streams completed per second in the window (each lasts about 1 s).",
        ),
        (
            "failover-hop",
            "## Failover hop: first candidate 429s (Retry-After: 0), second serves",
            lambda: tables.nonstream_table(cells, order, "failover-hop"),
            "Every request goes to a chain whose first candidate answers 429 with "
            '`Retry-After: 0`. The baseline (direct) calls the serving upstream, so "added" '
            "is what the failed attempt and the failover cost on top of the second upstream's "
            "own time. 429s per request: attempts the failing candidate received per answer.",
        ),
        (
            "failover",
            "## Failover under load: first candidate 429s (no Retry-After), second serves",
            lambda: tables.nonstream_table(cells, order, "failover"),
            "The same chain with a 429 that gives no Retry-After: each gateway's own cooldown "
            "policy decides whether it keeps trying the failing candidate (429s per request "
            "near 1) or goes straight to the second (near 0).",
        ),
        (
            "idle",
            "## Many idle streams (two chunks, then silence until closed)",
            lambda: tables.idle_table(cells, order),
            "Streams are opened (at most 100 waiting for their first chunk at a time) until all "
            "have one or the time allowed runs out; held open: streams still open when the "
            "client closed them all; dropped: the rest, with why. RSS/PSS per stream: growth "
            "from before opening to all open, over the streams held. The last column is the "
            "upstream's count of its streams still open 2 s after the clients went away, and "
            "when none was left (watched for 10 s): a gateway that does not notice its clients "
            "leaving keeps their upstream streams, and what they cost, alive.",
        ),
    ]


def _profiles(data: dict) -> list[str]:
    if not data.get("profiles"):
        return []
    out = [
        "## Where baton's time goes",
        "",
        "Right after the run baton (one worker, 16 connections) was sampled with py-spy under "
        "load, and the floor beside it (`python -m benchmarks.profile`). Server CPU is "
        "split by owner: baton's own modules (edge, actors, protocols, config; for the floor, "
        "its own file), the stack (Hypercorn, h11, Quart, Werkzeug, httpx2, httpcore2, trio, "
        "...) and Python itself; standard-library frames count for whoever called them.",
        "",
    ]
    for prof in data["profiles"]:
        if prof.get("own_share") is None:  # an import-time profile of an older run
            out.append(f"- [{prof['scenario']}]({prof['file']}): {prof['context']}")
            continue
        system = prof.get("system", "baton")
        per = prof.get("cpu_per_request_ms")
        unit = "chunk" if prof["scenario"] == "stream" else "request"
        owners = ", ".join(
            f"{name} {100 * share:.0f}%" for name, share in prof.get("owners", prof["packages"])
        )
        out.append(
            f"- [{system}, {prof['scenario']}]({prof['file']}): "
            + (f"{per:.3f} ms of server CPU per {unit}; " if per else "")
            + f"own code {100 * prof['own_share']:.1f}%, the stack "
            f"{100 * prof.get('stack_share', 0):.1f}%, Python itself "
            f"{100 * prof.get('python_share', 0):.1f}% (largest: {owners}). {prof['context']}"
        )
    return [*out, ""]


def _noise(data: dict) -> str:
    """How busy the rest of the machine was while cells were measured."""
    loads = sorted(
        rec["result"]["foreign_cores"]
        for rec in data["records"]
        if "foreign_cores" in rec["result"]
    )
    if not loads:
        return ""
    waited = sum(rec["result"].get("waited_for_quiet_s", 0) for rec in data["records"])
    return (
        f"Other work on the machine during the measured windows (processes outside this "
        f"run): median {median(loads):.2f} cores, 90th percentile "
        f"{loads[int(0.9 * (len(loads) - 1))]:.2f}, max {loads[-1]:.2f} of "
        f"{data['meta']['cpus']}; {waited:.0f} s were spent waiting for a quiet machine "
        "before cells."
    )


def write(data: dict, folder: Path, name: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}.json", folder / f"{name}.md"]
    paths[0].write_text(json.dumps(data, indent=1))
    paths[1].write_text(markdown(data))
    try:
        from benchmarks import chart

        png = folder / f"{name}.png"
        meta = data["meta"]
        title = (
            f"baton benchmark, {'quick' if meta['quick'] else 'full'} run of {meta['started']}: "
            f"medians of rounds on a shared {meta['cpus']}-CPU machine ({name}.md has the tables)"
        )
        chart.draw(Cells(data["records"]), _order(data), png, title)
        paths.append(png)
    except ImportError as exc:
        paths[1].write_text(paths[1].read_text() + f"\n(no chart: {exc})\n")
    return paths


def main() -> None:
    """Re-render a run from its JSON: `python -m benchmarks.report benchmarks/results/full.json`."""
    import sys

    path = Path(sys.argv[1])
    for written in write(json.loads(path.read_text()), path.parent, path.stem):
        print(f"wrote {written}")


if __name__ == "__main__":
    main()
