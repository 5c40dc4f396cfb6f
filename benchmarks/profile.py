"""Where baton's time goes: sample it with py-spy while the load driver keeps it busy.

    python -m benchmarks.profile                     # non-streaming (16 connections) and streaming
    python -m benchmarks.profile --scenario stream --seconds 15 --system baton-w2
    python -m benchmarks.profile --scenario nonstream --system floor   # the stack by itself

Starts the fake upstream and the system (one worker by default), drives one scenario for
`--seconds` while `py-spy record --nonblocking --function` samples every process of the system,
and writes benchmarks/results/profile-<scenario>.md (`profile-<system>-<scenario>.md` for
another system than baton) with the server CPU per request (or per chunk, streaming) split
between:

- baton's own modules: edge, actors, protocols, config (for the floor: its own file);
- the stack: Hypercorn, h11, h2, wsproto, Quart, Werkzeug, httpx2, httpcore2, trio, anyio,
  attrs, loguru, orjson, ... (`STACK`);
- Python itself: interpreter and standard-library frames with no caller from either.

A sample is charged to the innermost frame that belongs to the own modules or the stack, so
the standard library counts for whoever called it (baton's `json.dumps` is baton's; trio's
`contextlib` is trio's). The share of baton's own modules is what issue 11 bounds (under 25%
of server CPU per request when a target stays out of reach). Also: self time by package, the
functions with the most self time, and those with the most inclusive time. The raw collapsed
stacks stay under benchmarks/.work (feed them to flamegraph.pl or speedscope).

Needs py-spy (pip install py-spy; it is in the `bench` extra) and permission to ptrace.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from benchmarks import launcher, scenarios
from benchmarks.systems import BENCH, REPO, make

RESULTS = BENCH / "results"
OWN = ("edge", "actors", "protocols", "config")
# the commissioned stack and what it pulls in: server, protocols, framework, client, runtime
STACK = (
    *("hypercorn", "h11", "h2", "hpack", "hyperframe", "priority", "wsproto"),
    *("quart", "quart_trio", "werkzeug", "flask", "blinker", "itsdangerous", "jinja2"),
    *("markupsafe", "click", "aiofiles", "trio_websocket"),
    *("httpx2", "httpcore2", "httpx", "httpcore", "httptools", "certifi", "idna", "truststore"),
    *("trio", "anyio", "sniffio", "outcome", "sortedcontainers", "exceptiongroup"),
    *("attr", "attrs", "loguru", "yaml", "orjson", "prometheus_client", "dotenv"),
)
PYTHON = "(python)"  # the standard library and interpreter frames nothing above called


def _frame_file(frame: str) -> str:
    """`'Name.method (pkg/mod.py:12)'` -> `'pkg/mod.py'`; absolute paths made relative to
    site-packages or the repository, as py-spy does when it can."""
    inner = frame[frame.rfind("(") + 1 : frame.rfind(")")]
    path = inner.rsplit(":", 1)[0]
    if path.startswith("/"):
        if "-packages/" in path:
            return path.rsplit("-packages/", 1)[1]
        if path.startswith(str(REPO) + "/"):
            return path[len(str(REPO)) + 1 :]
    return path


def _package(frame: str) -> str:
    path = _frame_file(frame)
    if path.startswith("<"):
        return PYTHON
    head = path.split("/", 1)[0]
    return head.removesuffix(".py")


def _function(frame: str) -> str:
    name = frame[: frame.rfind("(")].strip()
    return f"{name} ({_frame_file(frame)})"


def _owner(packages: list[str], own: tuple[str, ...]) -> str:
    """Who a sample's CPU is charged to: the innermost frame from the system's own code or
    from the stack; standard-library frames (json, contextlib, ssl, ...) count for whoever
    called them."""
    for pkg in reversed(packages):
        if pkg in own or pkg in STACK:
            return pkg
    return PYTHON


def summarise(raw: str, own: tuple[str, ...] = OWN) -> dict:
    """Sample counts from collapsed stacks: self and inclusive per function, self per package,
    and per owner (see `_owner`)."""
    self_fn, incl_fn, self_pkg, owner = Counter(), Counter(), Counter(), Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [f for f in stack.split(";") if "(" in f]
        if not frames:
            continue
        total += n
        self_fn[_function(frames[-1])] += n
        self_pkg[_package(frames[-1])] += n
        owner[_owner([_package(f) for f in frames], own)] += n
        for fn in {_function(f) for f in frames}:
            incl_fn[fn] += n
    return {
        "total": total,
        "self": self_fn,
        "inclusive": incl_fn,
        "packages": self_pkg,
        "owners": owner,
        "own": own,
    }


def shares(summary: dict) -> dict[str, float]:
    """Fractions of all samples: the system's own code, the stack, Python itself; and the own
    code's self time alone (without the standard library it calls)."""
    total = summary["total"] or 1
    own = summary["own"]
    owners = summary["owners"]
    return {
        "own": sum(n for k, n in owners.items() if k in own) / total,
        "stack": sum(n for k, n in owners.items() if k in STACK) / total,
        "python": owners.get(PYTHON, 0) / total,
        "own_self": sum(n for k, n in summary["packages"].items() if k in own) / total,
    }


def markdown(
    title: str, summary: dict, context: str, per: float | None, unit: str, top: int = 25
) -> str:
    total = summary["total"] or 1
    share = shares(summary)
    own = ", ".join(summary["own"])

    def rows(counter: Counter, limit: int) -> list[str]:
        return [f"| {100 * n / total:5.1f}% | `{name}` |" for name, n in counter.most_common(limit)]

    def owner_rows() -> list[str]:
        out = []
        for name, n in summary["owners"].most_common(20):
            kind = "own" if name in summary["own"] else ("stack" if name in STACK else "")
            ms = f"{per * n / total:.3f}" if per else "-"
            out.append(f"| {100 * n / total:5.1f}% | {ms} | `{name}` | {kind} |")
        return out

    per_text = f" of the {per:.3f} ms of server CPU per {unit}" if per else ""
    lines = [
        f"# Profile: {title}",
        "",
        context,
        "",
        f"{summary['total']:,} samples of Python stacks holding the GIL (py-spy `--gil`: a "
        "thread waiting for the GIL or for the disk, such as the telemetry's SQLite writer, "
        "uses no CPU and is not counted; C code run under the GIL counts for the Python "
        "function that called it, socket calls that let the GIL go do not).",
        "",
        f"**Own modules ({own}): {100 * share['own']:.1f}%**{per_text}"
        + (f" ({share['own'] * per:.3f} ms)" if per else "")
        + f"; the stack: {100 * share['stack']:.1f}%; Python itself: "
        f"{100 * share['python']:.1f}%. Each sample is charged to the innermost frame from "
        "the own modules or the stack, so standard-library code (json, contextlib, ssl, ...) "
        "counts for whoever called it; the own modules' self time alone is "
        f"{100 * share['own_self']:.1f}%.",
        "",
        "## CPU by owner",
        "",
        f"| share | ms per {unit} | owner | |",
        "|---:|---:|---|---|",
        *owner_rows(),
        "",
        "## Self time by package",
        "",
        "| share | package |",
        "|---:|---|",
        *rows(summary["packages"], 20),
        "",
        "## Functions with the most self time",
        "",
        "| share | function |",
        "|---:|---|",
        *rows(summary["self"], top),
        "",
        "## Functions with the most inclusive time",
        "",
        "| share | function |",
        "|---:|---|",
        *rows(summary["inclusive"], top),
        "",
    ]
    return "\n".join(lines)


def py_spy() -> str | None:
    """py-spy on PATH, or beside this Python (a virtual environment that was not activated)."""
    beside = Path(sys.executable).with_name("py-spy")
    return shutil.which("py-spy") or (str(beside) if beside.exists() else None)


def profile(
    scenario: str, system_name: str, seconds: float, level: int, work: Path, prefix: str = ""
) -> dict:
    """Profile one system in one scenario; write `<prefix>profile-[<system>-]<scenario>.md`."""
    spy_path = py_spy()
    if spy_path is None:
        raise SystemExit("py-spy is not installed (pip install py-spy)")
    system = make(system_name)
    up_proc, up = launcher.start_upstream(work, seconds + 300)
    driver = scenarios.Driver()
    run = None
    try:
        run = launcher.launch(system, up, work)
        spec, bound = scenarios.cell_spec(scenario, level, system, up, run.root, scenarios.FULL)
        warm = dict(spec, warmup=0.2, measure=1.5)
        driver.run(warm, bound)
        spec.update(warmup=0.5, measure=seconds)
        raw = work / f"profile-{system_name}-{scenario}.txt"
        spy = [
            spy_path, "record", "--pid", str(run.root), "--format", "raw", "--function",
            "--nonblocking", "--gil", "--rate", "200", "--duration", str(int(seconds)),
            "--output", str(raw),
        ]  # fmt: skip
        if system.workers > 1:
            spy.append("--subprocesses")
        result: dict = {}
        load = threading.Thread(target=lambda: result.update(driver.run(spec, bound + seconds)))
        # samples of a process waiting for a core land where it was woken (trio's epoll), not
        # where its CPU goes: sample on a quiet machine, and say how quiet it was
        launcher.wait_quiet(15.0)
        load.start()
        time.sleep(0.5)  # into the warm-up: the sampled span is all under load
        subprocess.run(spy, check=True, capture_output=True, timeout=seconds + 60)
        load.join()
    finally:
        if run is not None:
            run.stop()
        launcher.stop(up_proc)
        driver.close()
    rate = result.get("rps", 0.0)
    context = (
        f"{system_name}, scenario `{scenario}` at {level} concurrent "
        f"{'streams' if scenario == 'stream' else 'connections'}, sampled for {seconds:.0f} s "
        f"while serving {rate:,.1f} {'streams' if scenario == 'stream' else 'requests'}/s "
        f"({result.get('cpu_ms', {}).get('server', 0) / max(1, result.get('completed', 1)):.2f}"
        f" ms of server CPU each); other processes used {result.get('foreign_cores', 0):.2f}"
        " cores meanwhile (py-spy's own sampling included). Run with "
        "`python -m benchmarks.profile`."
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "" if system.kind == "baton" else f"{system_name}-"
    out = RESULTS / f"{prefix}profile-{name}{scenario}.md"
    summary = summarise(raw.read_text(), OWN if system.kind == "baton" else ("benchmarks",))
    units = result.get("chunks" if scenario == "stream" else "completed") or 0
    per = result.get("cpu_ms", {}).get("server", 0) / units if units else None
    unit = "chunk" if scenario == "stream" else "request"
    out.write_text(markdown(f"{system_name}, {scenario}", summary, context, per, unit))
    share = shares(summary)
    total = summary["total"] or 1
    return {
        "scenario": scenario,
        "system": system_name,
        "file": out.name,
        "raw": str(raw),
        "context": context,
        "cpu_per_request_ms": per,
        "own_share": share["own"],
        "own_self_share": share["own_self"],
        "stack_share": share["stack"],
        "python_share": share["python"],
        "owners": [(k, n / total) for k, n in summary["owners"].most_common(6)],
        "packages": [(k, n / total) for k, n in summary["packages"].most_common(6)],
    }


def startup(system_name: str, work: Path) -> dict:
    """Start the system with `PYTHONPROFILEIMPORTTIME=1` and tell where start-up goes."""
    system = make(system_name)
    up_proc, up = launcher.start_upstream(work, 300)
    log = work / f"startup-{system_name}.log"
    log.unlink(missing_ok=True)
    try:
        launcher.launch(system, up, work, log_name=log.name).stop()  # warm the .pyc cache
        log.unlink()
        run = launcher.launch(
            system, up, work, env={"PYTHONPROFILEIMPORTTIME": "1"}, log_name=log.name
        )
        run.stop()
    finally:
        launcher.stop(up_proc)
    top, nested, total = Counter(), Counter(), 0
    for line in log.read_text(errors="replace").splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|")
        if not cumulative.strip().isdigit():
            continue  # the header
        ms, depth = int(cumulative) // 1000, (len(name) - len(name.lstrip()) - 1) // 2
        if depth == 0:
            top[name.strip()] += ms
            total += ms
        elif depth <= 3:
            nested[("  " * depth) + name.strip()] += ms
    out = RESULTS / "profile-startup.md"
    rows = [f"| {ms:,} | `{name}` |" for name, ms in top.most_common(12) if ms]
    inner = [f"| {ms:,} | `{name}` |" for name, ms in nested.most_common(15) if ms]
    out.write_text(
        "\n".join(
            [
                f"# Profile: start-up of {system_name}",
                "",
                f"From spawning to the first answered request: {run.startup_s:.2f} s, of which "
                f"{total / 1000:.2f} s importing modules (`PYTHONPROFILEIMPORTTIME=1`, bytecode "
                "already cached; times include the profiler's own overhead). Run with "
                "`python -m benchmarks.profile --scenario startup`.",
                "",
                "| ms (cumulative) | top-level import |",
                "|---:|---|",
                *rows,
                "",
                "The largest imports inside those (up to three levels down; each includes what "
                "it imports in turn):",
                "",
                "| ms (cumulative) | import |",
                "|---:|---|",
                *inner,
                "",
            ]
        )
    )
    return {
        "scenario": "startup",
        "file": out.name,
        "raw": str(log),
        "context": f"{run.startup_s:.2f} s to the first answer, {total / 1000:.2f} s of it "
        "importing modules.",
        "own_share": None,
        "packages": [(name, ms / 1000) for name, ms in top.most_common(6)],
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__)
    p.add_argument("--scenario", choices=("nonstream", "stream", "startup", "both"), default="both")
    p.add_argument("--system", default="baton")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--level", type=int, default=16)
    args = p.parse_args(argv)
    work = BENCH / ".work" / f"profile-{time.strftime('%Y%m%d-%H%M%S')}"
    work.mkdir(parents=True, exist_ok=True)
    chosen = ("nonstream", "stream") if args.scenario == "both" else (args.scenario,)
    for scenario in chosen:
        if scenario == "startup":
            done = startup(args.system, work)
        else:
            done = profile(scenario, args.system, args.seconds, args.level, work)
        print(f"wrote {RESULTS / done['file']} (raw data: {done['raw']})")


if __name__ == "__main__":
    sys.exit(main())
