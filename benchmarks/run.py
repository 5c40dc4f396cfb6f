"""One command that measures baton against the gateways people would use instead.

    python -m benchmarks.run            # full run: under 10 minutes once peers are installed
    python -m benchmarks.run --quick    # fewer systems, levels and rounds: under 2 minutes

Installs the peers if needed (LiteLLM into its own venv, Portkey with npm, both under
benchmarks/.peers), starts the fake upstream, then each system in turn (timing its start-up and
reading its idle memory), then runs the scenarios; see `benchmarks.session` for the order and
`benchmarks.scenarios` for what each measures. Results: benchmarks/results/<name>.{md,json,png}.

Everything listens on 127.0.0.1. When the kernel allows it, the runner re-executes itself in a
private network namespace that has only a loopback interface, so that no system under test can
reach the network at all (installs happen before that).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time

import attrs

from benchmarks import launcher, report
from benchmarks.scenarios import FULL, QUICK, SCENARIOS, Settings
from benchmarks.session import Session
from benchmarks.systems import BENCH, ISOLATED, make

WORK = BENCH / ".work"
RESULTS = BENCH / "results"


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="fewer systems, levels and rounds")
    p.add_argument("--systems", help=f"comma-separated (default: {','.join(FULL.systems)})")
    p.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated")
    p.add_argument("--rounds", type=int, help="rounds per level, overriding the defaults")
    p.add_argument("--out", help="results name under benchmarks/results (default full|quick)")
    p.add_argument("--max-minutes", type=float, help="skip cells past this (default 11, quick 3)")
    p.add_argument("--no-netns", action="store_true", help="stay in the host's network namespace")
    p.add_argument(
        "--no-profile", action="store_true", help="skip profiling baton and the floor afterwards"
    )
    p.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="MINUTES",
        help="first wait up to this long for the machine to be idle for 10 s",
    )
    p.add_argument("--in-netns", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _enter_netns(argv: list[str]) -> None:
    """Re-run this command in a new network namespace with only `lo`, if unshare allows it."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return
    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        print("note: cannot create a network namespace; staying in the host's", file=sys.stderr)
        return
    script = 'ip link set lo up && exec "$@"'
    cmd = ["unshare", "-n", "--", "sh", "-c", script, "sh", sys.executable, "-m", "benchmarks.run"]
    os.execvp("unshare", [*cmd, *argv, "--in-netns"])


def _profiles(work, out: str) -> list[dict]:
    """baton (one worker, 16 connections) without and with streaming, then the floor without:
    how the server CPU of a request splits between baton's own modules and the stack, next to
    what the stack costs by itself. Written beside the report (`<out>-` prefixed unless full)."""
    from benchmarks import profile

    prefix = "" if out == "full" else f"{out}-"
    found = []
    for scenario, system in (("nonstream", "baton"), ("stream", "baton"), ("nonstream", "floor")):
        print(f"profiling {system} ({scenario}) ...", file=sys.stderr)
        try:
            found.append(profile.profile(scenario, system, 5.0, 16, work, prefix))
        except (OSError, RuntimeError, subprocess.SubprocessError, SystemExit) as exc:
            print(f"profile failed: {exc}", file=sys.stderr)
    return found


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = _parse(argv)
    settings: Settings = QUICK if args.quick else FULL
    if args.rounds:
        parts = tuple(attrs.evolve(p, rounds=args.rounds) for p in settings.parts)
        settings = attrs.evolve(settings, parts=parts)
    names = args.systems.split(",") if args.systems else list(settings.systems)
    systems = [make(n.strip()) for n in names if n.strip()]
    chosen = [n.strip() for n in args.scenarios.split(",") if n.strip()]
    if unknown := set(chosen) - set(SCENARIOS):
        raise SystemExit(f"unknown scenarios {sorted(unknown)}; known: {', '.join(SCENARIOS)}")

    if not args.in_netns:
        for system in systems:  # installs need the package registries: before the namespace
            system.install(lambda text: print(text, file=sys.stderr))
        if args.wait_idle:
            waited = launcher.wait_idle_machine(args.wait_idle * 60, quiet_for=10.0)
            print(f"waited {waited:.0f} s for an idle machine", file=sys.stderr)
        if not args.no_netns:
            _enter_netns(argv)  # the namespaced run skips installs and waiting

    if args.in_netns:
        os.environ[ISOLATED] = "1"
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # children inherit it
    work = WORK / f"run-{time.strftime('%Y%m%d-%H%M%S')}"
    work.mkdir(parents=True, exist_ok=True)
    limit_s = (args.max_minutes or (3.0 if args.quick else 11.0)) * 60
    meta = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "quick": args.quick,
        "settings": attrs.asdict(settings),
        "netns": args.in_netns,
        "cpus": os.cpu_count(),
        "nofile": hard,
        "systems": [s.name for s in systems],
        "scenarios": chosen,
        "work": str(work),
    }
    session = Session(settings, systems, chosen, work, limit_s, explicit=bool(args.systems))
    data = session.execute(meta, sys.stderr)
    out = args.out or ("quick" if args.quick else "full")
    if not args.quick and not args.no_profile and "baton" in data["systems"]:
        data["profiles"] = _profiles(work, out)
    for path in report.write(data, RESULTS, out):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
