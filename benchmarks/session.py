"""One benchmark session: start everything, run the plan of cells, stop everything.

The plan is built part by part (see `scenarios.Settings.parts`): for each level, `rounds` rounds;
in each round every participating system once, the order rotated by one between rounds
(A B C, B C A, C A B) so a slow spell of the shared machine does not land on one system.
Every system stays up for the whole session; before each cell the session waits (bounded) for
the machine to be quiet, so the previous cell's system has drained.
"""

from __future__ import annotations

import time
from pathlib import Path

from benchmarks import launcher, procstat, scenarios
from benchmarks.scenarios import Settings
from benchmarks.systems import System, Upstream

UPSTREAM_FIELDS = ("requests", "streams_started", "streams_completed", "streams_aborted")


class Progress:
    """One status line, rewritten in place on a terminal, one line per step otherwise."""

    def __init__(self, total: int, out) -> None:
        self.total, self.done, self.t0, self.out = total, 0, time.perf_counter(), out
        self.tty = out.isatty()

    def say(self, text: str) -> None:
        elapsed = time.perf_counter() - self.t0
        line = f"[{self.done:3d}/{self.total}] {elapsed:4.0f}s  {text}"
        self.out.write("\r\x1b[2K" + line[:150] if self.tty else line + "\n")
        self.out.flush()

    def log(self, text: str) -> None:
        self.out.write(("\r\x1b[2K" if self.tty else "") + text + "\n")
        self.out.flush()


class Session:
    def __init__(
        self,
        settings: Settings,
        systems: list[System],
        chosen: list[str],
        work: Path,
        limit_s: float,
        explicit: bool,
    ) -> None:
        self.s, self.systems, self.chosen, self.work = settings, systems, chosen, work
        self.limit_s, self.explicit = limit_s, explicit
        self.running: dict[str, launcher.Running] = {}
        self.info: dict[str, dict] = {}
        self.records: list[dict] = []
        self.quiet_budget = settings.quiet_budget
        self.retry_budget = settings.retry_budget
        self.driver = scenarios.Driver()

    def plan(self) -> list[tuple[str, int, int, System]]:
        cells = []
        for part in self.s.parts:
            if part.scenario not in self.chosen:
                continue
            members = part.participants(self.systems, self.explicit)
            for level in part.levels:
                for r in range(part.rounds):
                    k = r % max(1, len(members))
                    cells += [(part.scenario, level, r, x) for x in members[k:] + members[:k]]
        return cells

    def execute(self, meta: dict, out) -> dict:
        plan = self.plan()
        progress = Progress(len(plan) + len(self.systems), out)
        up_proc, up = launcher.start_upstream(self.work, self.limit_s + 600)
        try:
            for system in self.systems:
                progress.say(f"starting {system.name}")
                self.info[system.name] = self._start(system, up, progress)
                progress.done += 1
            self._cells(plan, up, progress)
            self._memory("rss_end")
            for name, run in self.running.items():
                self.info[name]["remote_peers"] = procstat.remote_peers(run.pids())
        finally:
            progress.say("stopping systems")
            for run in self.running.values():
                run.stop()
            launcher.stop(up_proc)
            self.driver.close()
            progress.log(f"done in {time.perf_counter() - progress.t0:.0f} s")
        meta["duration_s"] = time.perf_counter() - progress.t0
        return {"meta": meta, "systems": self.info, "records": self.records}

    def _cells(self, plan, up: Upstream, progress: Progress) -> None:
        previous = None
        for scenario, level, r, system in plan:
            if previous == "nonstream" and scenario != "nonstream":
                self._memory("rss_after_load")
            previous = scenario
            progress.done += 1
            run = self.running.get(system.name)
            if run is None:
                continue
            if time.perf_counter() - progress.t0 > self.limit_s:
                result = {"failed": "skipped: run time limit"}
            elif not run.alive():
                result = {"failed": "system exited"}
            else:
                progress.say(f"{scenario} level={level} round {r + 1} {system.name}")
                result = self._cell(scenario, level, system, run, up)
            self.records.append(
                {
                    "scenario": scenario,
                    "level": level,
                    "round": r,
                    "system": system.name,
                    "result": result,
                }
            )
        if previous == "nonstream":
            self._memory("rss_after_load")

    def _cell(self, scenario: str, level: int, system: System, run, up: Upstream) -> dict:
        """Measure one cell; measure it again (bounded) when others loaded the machine."""
        best: dict = {}
        for attempt in range(1 + self.s.retries):
            result = self._measure(scenario, level, system, run, up)
            result["attempt"] = attempt
            load = result.get("foreign_cores", 0.0)
            if not best or load < best.get("foreign_cores", 0.0):
                best = result
            if load <= self.s.max_foreign_cores or self.retry_budget <= 0 or scenario == "idle":
                break
            self.retry_budget -= result["cell_s"]
        return best

    def _measure(self, scenario: str, level: int, system: System, run, up: Upstream) -> dict:
        waited = launcher.wait_quiet(min(self.s.quiet_per_cell, max(0.2, self.quiet_budget)))
        self.quiet_budget -= waited
        spec, bound = scenarios.cell_spec(scenario, level, system, up, run.root, self.s)
        before = launcher.upstream_stats(up)
        t0 = time.perf_counter()
        result = self.driver.run(spec, bound)
        result["cell_s"] = time.perf_counter() - t0
        after = launcher.upstream_stats(up)
        result["upstream"] = {  # per listener: what this cell made the upstream do
            name: {f: after[name][f] - before[name][f] for f in UPSTREAM_FIELDS}
            for name in up.listeners
        }
        result["waited_for_quiet_s"] = waited
        return result

    def _start(self, system: System, up: Upstream, progress: Progress) -> dict:
        info: dict = {"workers": system.workers, "kind": system.kind, "startup_s": []}
        try:
            for i in range(self.s.startup_samples):
                run = launcher.launch(system, up, self.work)
                info["startup_s"].append(run.startup_s)
                if i + 1 == self.s.startup_samples or sum(info["startup_s"]) > 3.0:
                    break
                run.stop()
        except RuntimeError as exc:
            info["failed"] = str(exc)
            progress.log(f"{system.name}: failed to start\n{exc}")
            return info
        self.running[system.name] = run
        if system.is_server:
            time.sleep(self.s.settle)  # idle memory is read after start-up work has finished
            info["idle"] = run.memory()
            info["remote_peers_at_start"] = procstat.remote_peers(run.pids())
            req = system.request(up, "bench-model")
            warm = {
                "mode": "closed",
                "concurrency": 8,
                "warmup": 0.1,
                "measure": self.s.settle,
                "grace": 2.0,
                "timeout": 10.0,
                "host": "127.0.0.1",
                "port": req.port,
                "path": req.path,
                "headers": req.headers,
                "body": req.body,
                "watch": {},
            }
            self.driver.run(warm, 30)  # first-request paths (imports, JIT) out of the way
        return info

    def _memory(self, key: str) -> None:
        for name, run in self.running.items():
            if run.system.is_server and run.alive():
                self.info[name][key] = run.memory()
