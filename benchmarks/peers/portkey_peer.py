"""Portkey's open-source gateway (Node), installed by npm into benchmarks/.peers/portkey.

Two patches are applied to the published build after installing, each a literal replacement
that must match exactly once (the install fails loudly if a new version moves the code):

- bind 127.0.0.1: `start-server.js` calls `serve({fetch, port})`, which listens on every
  interface; the patch passes `hostname: "127.0.0.1"`.
- the streaming path on Node 20: `ResponseService.updateHeaders` appends headers to the upstream
  `Response`, whose headers are immutable with current `@hono/node-server` releases, and every
  streamed request fails with `TypeError: immutable` ("Something went wrong"; Portkey-AI/gateway
  issues #1389 and #1550, PR #1390). The patch copies the response into one with mutable headers
  when they are immutable, and makes the caller use the returned response.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

VERSION = "1.15.2"
FOLDER = Path(__file__).resolve().parents[1] / ".peers" / "portkey"
BUILD = FOLDER / "node_modules" / "@portkey-ai" / "gateway" / "build"
ENV = {"NODE_ENV": "production"}
STAMP = f"portkey {VERSION} patched-v1"

PATCHES = [
    ("e({fetch:Lu.fetch,port:Ku})", 'e({fetch:Lu.fetch,port:Ku,hostname:"127.0.0.1"})'),
    (
        "updateHeaders(e,t,a){return e.headers.append(",
        'updateHeaders(e,t,a){try{e.headers.append("x-bench-probe","1"),'
        'e.headers.delete("x-bench-probe")}catch(_){e=new Response(e.body,{status:e.status,'
        "statusText:e.statusText,headers:new Headers(e.headers)})}return e.headers.append(",
    ),
    (
        "this.updateHeaders(i,n.cacheStatus,o),{response:i,",
        "i=this.updateHeaders(i,n.cacheStatus,o),{response:i,",
    ),
]


def install(log) -> None:
    stamp = FOLDER / ".bench-installed"
    if stamp.exists() and stamp.read_text() == STAMP:
        return
    if shutil.which("npm") is None or shutil.which("node") is None:
        raise RuntimeError("portkey needs node and npm on PATH")
    FOLDER.mkdir(parents=True, exist_ok=True)
    (FOLDER / "package.json").write_text(
        json.dumps({"name": "baton-bench-portkey", "private": True})
    )
    log(f"installing @portkey-ai/gateway@{VERSION} with npm into {FOLDER} ...")
    subprocess.run(
        [
            "npm",
            "install",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            f"@portkey-ai/gateway@{VERSION}",
        ],
        cwd=FOLDER,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    _patch(BUILD / "start-server.js")
    stamp.write_text(STAMP)


def _patch(path: Path) -> None:
    original = path.with_suffix(".js.orig")
    if not original.exists():
        shutil.copyfile(path, original)
    text = original.read_text()
    for old, new in PATCHES:
        if text.count(old) != 1:
            raise RuntimeError(f"portkey patch no longer applies to {path}: {old!r}")
        text = text.replace(old, new)
    path.write_text(text)


def argv(port: int) -> list[str]:
    return ["node", str(BUILD / "start-server.js"), f"--port={port}", "--headless"]
