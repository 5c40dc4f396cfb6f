"""Chaos: hostile upstreams against a real `baton serve` process, measured from outside.

Each case (a key echoed in an error, nesting without end, a reply past the size bound, a gzip
bomb, an endless line, a redirect, a head dripped a byte at a time, a reset mid-head) is
served three times through the chain `alpha -> beta`: every call is answered by beta; the key
appears in no reply, header, `/stats`, `/metrics`, log line (at DEBUG), request-log file or
telemetry row; and after each case (measured from outside, before and after it) the process
holds no more descriptors than before it, but for a bounded pool of upstream connections, and
its RSS is back within a few MB (each case's bytes were bounded and let go). Alpha is made to
serve one call before each hostile one: three failures in a row would have it `down`, tried
after beta, so never, and the case would measure nothing. A 19 MiB request then shows what a
large body costs at its peak and that it is given back.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import attrs
import httpx2
import trio
import yaml

from actors.upstream_client import SHARDS
from edge.simulator import Complete, Drip, Error, Garbage, Reply, SimRequest, always
from tests.e2e.harness import (
    CLIENT_KEY,
    free_port,
    gateway_config,
    serve_command,
    start_upstreams,
    until_healthy,
)

KEY = "sk-hostile-process-Zx7Cv3Bn9Mq"
CONTENT = (
    b'data: {"id":"1","object":"chat.completion.chunk","created":1,"model":"m","choices":'
    b'[{"index":0,"delta":{"content":"partial"},"finish_reason":null}]}\n\n'
)
CASES: dict[str, Reply] = {
    "echo": Error(
        401,
        body={"error": {"message": f"bad key {KEY}", "type": KEY, "code": KEY, "param": KEY}},
    ),
    "deep": Garbage(b"[" * 200_000, content_type="application/json"),
    "huge": Garbage(b'{"x": "' + b"x" * (40 << 20) + b'"}', content_type="application/json"),
    "huge chunked": Garbage(
        b'{"x": "' + b"x" * (40 << 20), content_type="application/json", hold=True
    ),
    "bomb": Garbage(
        gzip.compress(b"\0" * (256 << 20), compresslevel=9),
        content_type="application/json",
        headers={"content-encoding": "gzip"},
    ),
    "endless": Garbage(b"data: " + b"x" * (4 << 20), hold=True, content_type="text/event-stream"),
    "redirect": Error(307, headers={"location": "http://127.0.0.1:9/elsewhere"}),
    "drip": Drip(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n", interval=0.1),
    "reset": Drip(b"HTTP/1.1 200 OK\r\ncontent-ty", interval=0, reset=True),
}


def alpha(request: SimRequest) -> Reply:
    content = request.json["messages"][0]["content"]
    return CASES[content] if content in CASES else Complete("from alpha")


BIG = 19  # MiB of one request's text
# How far a case may leave RSS above where it was (MiB). Every case's bytes are bounded (32 MiB
# at most per attempt: "huge chunked" and "bomb" peak there) and come in blocks of 1 MiB or
# more, which `baton serve` has glibc map and unmap on their own (edge/memory.py), so even one
# attempt's reply kept would leave 10 MiB or more; what legitimately stays is small objects (a
# telemetry row, a log line, a pymalloc arena): measured -0.15 to +0.36 MiB a case after the
# warm-up, so 6 MiB is far from both.
RSS_SLACK = 6.0
SETTLE = 3.0  # seconds a case's memory and descriptors may take to come back
# Connections to the two upstreams a case may leave open: each provider's pool is `SHARDS`
# clients taken in turn, each keeping its idle connection (calls here come one at a time) for
# `KEEPALIVE` seconds, expired ones closed only when that client is next used; the health
# checker's own client per provider may hold one more. Measured 6 to 8 between cases. A
# connection leaked by each attempt would add 3 a case, past this by the second case.
POOLED = 2 * SHARDS + 2
# Peak RSS above its level just before, in multiples of the large request's size: measured
# 7.0x (133 MiB for 19 MiB) with --log-requests on as here, 4.0x without it (the request log's
# pretty-printed, scrubbed copy costs three times the body; tests/edge/test_server_large_bodies
# bounds the 4x). The issue (defect 7) saw a 19 MB body peak at 234 MB.
PEAK_RATIO = 8


@attrs.frozen
class Sample:
    """A process's RSS and descriptors at one moment."""

    rss: float  # MiB
    fds: int  # open descriptors but connections to the upstreams
    pooled: int  # connections to the upstreams (idle ones are kept a while for reuse)


@attrs.frozen
class Measured:
    """One case: the process before it, at its peak, and once it settled after it."""

    before: Sample
    peak: float  # MiB of RSS above `before`
    after: Sample

    def __str__(self) -> str:
        before, after = self.before, self.after
        return (
            f"RSS {before.rss:.1f} MiB, peak +{self.peak:.1f}, "
            f"after {after.rss - before.rss:+.2f}; "
            f"fds {before.fds} {after.fds - before.fds:+d}; "
            f"upstream connections {before.pooled} -> {after.pooled}"
        )


def status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field}")


def rss_mb(pid: int) -> float:
    return status_mb(pid, "VmRSS")


def descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def sample(pid: int, ports: set[int]) -> Sample:
    remote: dict[str, int] = {}  # socket inode: remote port
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            remote[fields[9]] = int(fields[2].rpartition(":")[2], 16)
    fds = pooled = 0
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except FileNotFoundError:  # closed since listed
            continue
        if target.startswith("socket:[") and remote.get(target[8:-1]) in ports:
            pooled += 1
        else:
            fds += 1
    return Sample(rss_mb(pid), fds, pooled)


def reset_peak(pid: int) -> None:
    """Set the process's peak RSS (VmHWM) to its RSS now (proc(5), clear_refs)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


async def settled(pid: int, ports: set[int], before: Sample) -> Sample:
    """The process once back near `before` (glibc gives memory back lazily, a connection is
    closed a moment after its reply), or as it is after `SETTLE` seconds."""
    now = sample(pid, ports)
    with trio.move_on_after(SETTLE):
        while now.rss - before.rss > RSS_SLACK or now.fds > before.fds or now.pooled > POOLED:
            await trio.sleep(0.05)
            now = sample(pid, ports)
    return now


async def test_hostile_upstreams_leave_a_real_process_as_they_found_it(tmp_path: Path) -> None:
    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            upstreams = await start_upstreams(
                nursery, alpha=alpha, beta=always(Complete("from beta"))
            )
            document = gateway_config(
                upstreams,
                virtual_models={"vm": ["alpha/m", "beta/m"]},
                keys={"alpha": [KEY], "beta": ["beta-key"]},
                timeouts={"first_byte": 2, "idle": 2, "total": 30},
            )
            # an auth failure locks the key: give alpha's key a short, single cooldown
            document["cooldowns"] = {"auth": [0.01]}
            path = tmp_path / "baton.yaml"
            path.write_text(yaml.safe_dump(document))
            port = await free_port()
            log = (tmp_path / "log.txt").open("wb")
            process = await trio.lowlevel.open_process(
                serve_command(path, port, tmp_path / "state", "--log-requests", str(tmp_path)),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            replies: list[bytes] = []
            cases: dict[str, Measured] = {}
            try:
                async with httpx2.AsyncClient(
                    base_url=f"http://127.0.0.1:{port}",
                    headers={"authorization": f"Bearer {CLIENT_KEY}"},
                    timeout=30,
                ) as client:
                    await until_healthy(client)

                    async def ask(content: str, stream: bool, model: str) -> httpx2.Response:
                        body = {
                            "model": model,
                            "messages": [{"role": "user", "content": content}],
                            "stream": stream,
                        }
                        reply = await client.post("/v1/chat/completions", json=body)
                        replies.append(reply.content + json.dumps(dict(reply.headers)).encode())
                        return reply

                    async def hostile(case: str, stream: bool) -> None:
                        """`case` through `alpha -> beta`: alpha is tried, beta serves."""
                        # three failures in a row and alpha is down, tried after beta (so not
                        # at all): one call it serves first keeps it first in the chain (once
                        # its key, rejected by "echo", has cooled)
                        with trio.fail_after(5):
                            while (await ask("fine", False, "alpha/m")).status_code != 200:
                                await trio.sleep(0.05)
                        tried = len(upstreams["alpha"].calls)
                        reply = await ask(case, stream, "vm")
                        assert reply.status_code == 200, (case, reply.text)
                        assert reply.headers["x-baton-provider"] == "beta", case
                        assert len(upstreams["alpha"].calls) > tried, f"{case}: alpha untried"

                    # warm-up: every case once each way, so what is allocated once for good
                    # (code paths first taken, the upstream clients' pooled connections, the
                    # telemetry database's pages) is not counted against the first case
                    # ("drip" once: it costs `first_byte` a call and takes no new path)
                    await ask("fine", False, "beta/m")
                    for case in CASES:
                        for stream in (False,) if case == "drip" else (False, True):
                            await hostile(case, stream)
                    await trio.sleep(0.5)
                    ports = {urlsplit(sim.base_url).port or 0 for sim in upstreams.values()}
                    start = sample(process.pid, ports)
                    for case in CASES:
                        before = sample(process.pid, ports)
                        reset_peak(process.pid)
                        for stream in (False, True, False):
                            await hostile(case, stream)
                        peak = status_mb(process.pid, "VmHWM") - before.rss
                        cases[case] = Measured(
                            before, peak, await settled(process.pid, ports, before)
                        )
                    end = sample(process.pid, ports)
                    # a large request: held a few times over at its peak (the body, its parse,
                    # the upstream's copy and, with --log-requests on as here, the request
                    # log's pretty-printed, scrubbed copy), then given back, not kept by an
                    # actor's last message
                    big = "x" * (BIG << 20)
                    reset_peak(process.pid)
                    rss_big_before = rss_mb(process.pid)
                    assert (await ask(big, False, "beta/m")).status_code == 200
                    peak_growth = status_mb(process.pid, "VmHWM") - rss_big_before
                    # given back within a few seconds (a slow machine writes the request
                    # log's copy later), not merely sooner or later
                    with trio.move_on_after(5):
                        while rss_mb(process.pid) - rss_big_before > RSS_SLACK:
                            await trio.sleep(0.1)
                    rss_after_big = rss_mb(process.pid)
                    for path_ in ("/stats", "/metrics"):
                        replies.append((await client.get(path_)).content)
            finally:
                process.send_signal(signal.SIGTERM)
                await process.wait()
                log.close()
            nursery.cancel_scope.cancel()
    assert all(KEY.encode() not in reply for reply in replies)
    files = [path for path in tmp_path.rglob("*") if path.is_file()]  # logs, request logs, db
    assert any(path.name == "telemetry.sqlite3" for path in files)
    assert any(path.name == "attempts.json" for path in files)
    assert b"attempt alpha/m" in (tmp_path / "log.txt").read_bytes()  # DEBUG lines were written
    assert [
        path for path in files if path.name != "baton.yaml" and KEY.encode() in path.read_bytes()
    ] == []
    table = "\n".join(f"{case:>12}: {measured}" for case, measured in cases.items())
    assert all(m.after.fds <= m.before.fds for m in cases.values()), f"fds kept:\n{table}"
    assert all(m.after.pooled <= POOLED for m in cases.values()), f"connections kept:\n{table}"
    assert all(m.after.rss - m.before.rss <= RSS_SLACK for m in cases.values()), (
        f"memory kept:\n{table}"
    )
    # and nothing crept up a little at a time over all the cases
    assert end.rss - start.rss <= RSS_SLACK and end.fds <= start.fds, (start, end, table)
    assert peak_growth <= PEAK_RATIO * BIG, (
        f"a {BIG} MiB request peaked {peak_growth:.0f} MiB above {rss_big_before:.0f} MiB"
    )
    assert rss_after_big - rss_big_before <= RSS_SLACK, (rss_big_before, rss_after_big)
