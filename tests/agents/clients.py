"""Real coding-agent CLIs (Codex, OpenCode, Claude Code) run headless against a baton gateway.

Everything a test needs to run one non-interactive turn of a client, hermetically:

* where the client is (`codex_bin`, `opencode_bin`, `claude_bin`): `tests/agents/node_modules/
  .bin`, filled by `npm ci --prefix tests/agents`, or a path in `BATON_CODEX_BIN` /
  `BATON_OPENCODE_BIN` / `BATON_CLAUDE_BIN`;
* a throwaway home per run (`ClientHome`): HOME, the XDG dirs and CODEX_HOME all point into a
  temp dir, the environment is built from scratch (no proxies, no real API keys), and each
  client's config there turns off what would reach past 127.0.0.1;
* `Recorder`, a pass-through HTTP proxy put between the client and baton that notes every
  request (method, path, headers, body), so a test sees which endpoint the client really used;
* `ResponsesStub`, a fixed Responses-API SSE reply, used to pin down what Codex needs back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

HERE = Path(__file__).resolve().parent
NODE_BIN = HERE / "node_modules" / ".bin"
INSTALL_HINT = "install it with `npm ci --prefix tests/agents` (see tests/agents/README.md)"
CLIENT_TIMEOUT = 120.0  # seconds for one turn, start-up included (OpenCode needs ~10 s here)
API_KEY_ENV = "BATON_API_KEY"


def _client(env_var: str, name: str) -> Path | None:
    override = os.environ.get(env_var)
    if override:
        return Path(override)
    path = NODE_BIN / name
    return path if path.exists() else None


def codex_bin() -> Path | None:
    return _client("BATON_CODEX_BIN", "codex")


def opencode_bin() -> Path | None:
    return _client("BATON_OPENCODE_BIN", "opencode")


needs_codex = pytest.mark.skipif(
    codex_bin() is None, reason=f"Codex CLI (npm @openai/codex) is not installed: {INSTALL_HINT}"
)
needs_opencode = pytest.mark.skipif(
    opencode_bin() is None, reason=f"OpenCode (npm opencode-ai) is not installed: {INSTALL_HINT}"
)


def claude_bin() -> Path | None:
    return _client("BATON_CLAUDE_BIN", "claude")


needs_claude = pytest.mark.skipif(
    claude_bin() is None,
    reason=f"Claude Code (npm @anthropic-ai/claude-code) is not installed: {INSTALL_HINT}",
)


@attrs.frozen
class ClientHome:
    """A fresh home for one client run; `env()` is the whole environment it gets."""

    root: Path

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def codex_home(self) -> Path:
        return self.root / "codex-home"

    @property
    def workdir(self) -> Path:
        return self.root / "work"

    def create(self) -> ClientHome:
        for path in (self.home, self.codex_home, self.workdir):
            path.mkdir(parents=True, exist_ok=True)
        return self

    def env(self, api_key: str, **extra: str) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),  # codex's launcher needs `node`
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "XDG_DATA_HOME": str(self.home / ".local" / "share"),
            "XDG_STATE_HOME": str(self.home / ".local" / "state"),
            "XDG_CACHE_HOME": str(self.home / ".cache"),
            "CODEX_HOME": str(self.codex_home),
            "LANG": "C.UTF-8",
            "TERM": "dumb",
            "NO_COLOR": "1",
            "NO_PROXY": "127.0.0.1,localhost",
            API_KEY_ENV: api_key,
        }
        env.update(extra)
        return env


def write_codex_config(
    home: ClientHome, base_url: str, model: str, *, websocket: bool = False
) -> Path:
    """`$CODEX_HOME/config.toml` with a `baton` provider speaking the Responses API.

    `websocket` sets the provider's `supports_websockets`: Codex then opens a WebSocket on
    GET {base_url}/responses (`OpenAI-Beta: responses_websockets=2026-02-06`) and sends
    `response.create` frames, the first a prewarm with `generate: false`, instead of POSTing.

    `features.plugins = false` stops Codex's curated-plugin sync (chatgpt.com, api.github.com);
    with it off, `codex exec` opens no socket but the one to `base_url` (checked with strace).
    Retries are off so a broken stream fails the test at once instead of after ~6 s of backoff.
    """
    text = f"""\
model = {json.dumps(model)}
model_provider = "baton"
approval_policy = "never"
sandbox_mode = "read-only"
check_for_update_on_startup = false

[analytics]
enabled = false

[features]
plugins = false

[model_providers.baton]
name = "baton"
base_url = {json.dumps(base_url)}
env_key = "{API_KEY_ENV}"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0
supports_websockets = {"true" if websocket else "false"}
"""
    path = home.codex_home / "config.toml"
    path.write_text(text)
    return path


def codex_command(binary: Path, prompt: str, last_message: Path) -> list[str]:
    return [
        str(binary),
        "exec",
        "--strict-config",  # a config key this Codex does not know is an error, not a no-op
        "--skip-git-repo-check",
        "--ephemeral",
        "--color",
        "never",
        "--output-last-message",
        str(last_message),
        prompt,
    ]


OPENCODE_PACKAGES = {"chat": "@ai-sdk/openai-compatible", "responses": "@ai-sdk/openai"}


def write_opencode_config(
    home: ClientHome, base_url: str, model: str, wire_api: str = "chat"
) -> Path:
    """An `opencode.json` (passed in OPENCODE_CONFIG) with a `baton` provider.

    `wire_api` "chat" uses the bundled `@ai-sdk/openai-compatible` (POST /chat/completions),
    "responses" the bundled `@ai-sdk/openai` (POST /responses). Both are inside the binary, so
    nothing is downloaded. OpenCode also runs a background `npm install @opencode-ai/plugin`
    in its global config dir unless that dir already has `node_modules/` and a lock naming the
    package: a stub of both is written so it never reaches registry.npmjs.org.
    """
    config = {
        "$schema": "https://opencode.ai/config.json",
        "autoupdate": False,
        "share": "disabled",
        "model": f"baton/{model}",
        "small_model": f"baton/{model}",
        "provider": {
            "baton": {
                "npm": OPENCODE_PACKAGES[wire_api],
                "name": "baton",
                "options": {"baseURL": base_url, "apiKey": "{env:" + API_KEY_ENV + "}"},
                "models": {model: {"name": model}},
            }
        },
    }
    global_dir = home.home / ".config" / "opencode"
    (global_dir / "node_modules").mkdir(parents=True, exist_ok=True)
    lock = {"lockfileVersion": 3, "packages": {"": {"dependencies": {"@opencode-ai/plugin": "*"}}}}
    (global_dir / "package-lock.json").write_text(json.dumps(lock))
    path = home.root / "opencode.json"
    path.write_text(json.dumps(config, indent=2))
    return path


OPENCODE_ENV = {
    "OPENCODE_DISABLE_AUTOUPDATE": "1",
    "OPENCODE_DISABLE_MODELS_FETCH": "1",  # no models.dev catalogue download
    "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
    "OPENCODE_DISABLE_SHARE": "1",
}


def opencode_command(binary: Path, prompt: str) -> list[str]:
    return [str(binary), "run", "--pure", "--format", "json", prompt]


def opencode_texts(stdout: str) -> list[str]:
    """The `text` parts of `opencode run --format json` output (one JSON event per line)."""
    texts = []
    for line in stdout.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        part = event.get("part") if isinstance(event, dict) else None
        if event.get("type") == "text" and isinstance(part, dict):
            texts.append(part.get("text", ""))
    return texts


# Claude Code offline. CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC alone already stops everything
# but the model calls (checked with strace: without it, a `claude -p` turn also sends
# `HEAD {ANTHROPIC_BASE_URL}/api/hello` and resolves api.anthropic.com); the DISABLE_* it implies
# are set as well, so one renamed switch does not open a socket. Retries are off: baton does the
# failing over, and a broken gateway should fail the test at once, not after ten backoffs.
CLAUDE_ENV = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "CLAUDE_CODE_MAX_RETRIES": "0",
}


def claude_env(
    home: ClientHome, base_url: str, api_key: str, model: str | None = None, **extra: str
) -> dict[str, str]:
    """The environment for `claude -p` against `base_url` (baton's root, no `/v1`).

    ANTHROPIC_API_KEY makes Claude Code send `x-api-key` (ANTHROPIC_AUTH_TOKEN would send
    `Authorization: Bearer`). `model` None leaves the model to Claude Code, which then sends
    its own ids (`claude-opus-5-5` by default in 2.1.332) and the gateway has to alias them; a
    name sets ANTHROPIC_MODEL and the small/fast model to it, which Claude Code sends verbatim
    (it warns `[claude-code:unrecognized_model]` on stderr and carries on). CLAUDE_CONFIG_DIR
    keeps `.claude.json`, sessions and plugins inside the temp home.
    """
    env = home.env(
        api_key,
        CLAUDE_CONFIG_DIR=str(home.home / ".claude"),
        ANTHROPIC_BASE_URL=base_url,
        ANTHROPIC_API_KEY=api_key,
        **CLAUDE_ENV,
    )
    if model is not None:
        env.update(
            ANTHROPIC_MODEL=model,
            ANTHROPIC_SMALL_FAST_MODEL=model,
            ANTHROPIC_DEFAULT_HAIKU_MODEL=model,
        )
    env.update(extra)
    return env


def claude_command(binary: Path, prompt: str, *, allowed_tools: str = "Read") -> list[str]:
    """`claude -p` for one headless turn, its result as one JSON document on stdout.

    `--allowedTools Read` lets the model read files without a permission prompt (there is no
    one to answer it in print mode). It works as root, where `--dangerously-skip-permissions`
    is refused unless IS_SANDBOX=1 is set. `--max-turns 3` bounds a tool loop gone wrong.
    """
    return [
        str(binary),
        "-p",
        prompt,
        "--output-format",
        "json",
        "--max-turns",
        "3",
        "--allowedTools",
        allowed_tools,
        "--no-session-persistence",
        "--strict-mcp-config",
    ]


def claude_result(stdout: str) -> dict[str, Any]:
    """The `{"type": "result", ...}` document `claude -p --output-format json` prints."""
    for line in reversed(stdout.strip().splitlines()):
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if isinstance(document, dict) and document.get("type") == "result":
            return document
    return {}


@attrs.frozen
class Run:
    """A finished client run; `output` is stdout and stderr for assertion messages."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        head = f"exit {self.returncode} after {self.seconds:.1f}s"
        return f"{head}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


async def _kill_group(process: trio.Process) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


async def run_client(
    command: Sequence[str], env: Mapping[str, str], cwd: Path, timeout: float = CLIENT_TIMEOUT
) -> Run:
    """Run a client to completion (stdin empty, output captured); kill its group on timeout."""
    started = trio.current_time()
    with trio.fail_after(timeout):
        done: subprocess.CompletedProcess[bytes] = await trio.run_process(
            list(command),
            stdin=b"",
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            cwd=str(cwd),
            env=dict(env),
            start_new_session=True,
            deliver_cancel=_kill_group,
        )
    return Run(
        done.returncode,
        done.stdout.decode(errors="replace"),
        done.stderr.decode(errors="replace"),
        trio.current_time() - started,
    )


@attrs.frozen
class SeenRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


_HEAD_END = b"\r\n\r\n"


def _split_request(buffer: bytes) -> tuple[SeenRequest, int] | None:
    """The first complete HTTP/1.1 request in `buffer` and its length, or None if incomplete."""
    end = buffer.find(_HEAD_END)
    if end < 0:
        return None
    lines = buffer[:end].decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    position = end + len(_HEAD_END)
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = b""
        while True:
            line_end = buffer.find(b"\r\n", position)
            if line_end < 0:
                return None
            size = int(buffer[position:line_end].split(b";")[0], 16)
            position = line_end + 2
            if len(buffer) < position + size + 2:
                return None
            body += buffer[position : position + size]
            position += size + 2
            if size == 0:
                break
    else:
        length = int(headers.get("content-length") or 0)
        if len(buffer) < position + length:
            return None
        body = buffer[position : position + length]
        position += length
    return SeenRequest(method, target, headers, body), position


@attrs.define
class Recorder:
    """A pass-through proxy to `target` (host:port) that records each request it forwards."""

    target_port: int
    requests: list[SeenRequest] = attrs.field(factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, nursery: trio.Nursery) -> Recorder:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        await nursery.start(trio.serve_listeners, self._connection, listeners)
        return self

    def paths(self) -> list[tuple[str, str]]:
        return [(r.method, r.path) for r in self.requests]

    async def _connection(self, client: trio.SocketStream) -> None:
        async with client:
            upstream = await trio.open_tcp_stream("127.0.0.1", self.target_port)
            async with upstream, trio.open_nursery() as nursery:

                async def back() -> None:
                    try:
                        async for data in upstream:
                            await client.send_all(data)
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        pass
                    nursery.cancel_scope.cancel()

                nursery.start_soon(back)
                try:
                    await self._forward(client, upstream)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass
                nursery.cancel_scope.cancel()

    async def _forward(self, client: trio.SocketStream, upstream: trio.SocketStream) -> None:
        buffer = b""
        parsing = True
        async for data in client:
            await upstream.send_all(data)
            if not parsing:
                continue
            buffer += data
            while (found := _split_request(buffer)) is not None:
                request, used = found
                self.requests.append(request)
                buffer = buffer[used:]
                if "upgrade" in request.headers:  # a WebSocket from here on: stop parsing
                    parsing = False
                    break


STUB_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n"


def sse(event: Mapping[str, Any]) -> bytes:
    return b"event: " + event["type"].encode() + b"\ndata: " + json.dumps(event).encode() + b"\n\n"


@attrs.define
class ResponsesStub:
    """Answers every request with the same event stream, then closes: Responses-API events,
    or Messages ones (`messages_stream`): each goes out as `event: <type>` and `data: <json>`."""

    events: Sequence[Mapping[str, Any]]
    requests: list[SeenRequest] = attrs.field(factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, nursery: trio.Nursery) -> ResponsesStub:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        await nursery.start(trio.serve_listeners, self._connection, listeners)
        return self

    async def _connection(self, stream: trio.SocketStream) -> None:
        async with stream:
            buffer = b""
            try:
                while (found := _split_request(buffer)) is None:
                    data = await stream.receive_some()
                    if not data:
                        return
                    buffer += data
                self.requests.append(found[0])
                await stream.send_all(STUB_HEAD + b"".join(sse(e) for e in self.events))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass


def message_item(text: str, item_id: str = "msg_1", status: str = "completed") -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": []}] if text else []
    return {
        "id": item_id,
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": content,
    }


def full_stream(text: str, model: str = "vm") -> list[dict[str, Any]]:
    """What the OpenAI API itself sends for a one-message reply (the events Codex may see)."""
    response = {"id": "resp_1", "object": "response", "status": "in_progress", "model": model}
    part = {"type": "output_text", "text": "", "annotations": []}
    where = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    usage = {
        "input_tokens": 5,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 2,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 7,
    }
    done = {**response, "status": "completed", "output": [message_item(text)], "usage": usage}
    return [
        {"type": "response.created", "response": {**response, "output": []}},
        {"type": "response.in_progress", "response": {**response, "output": []}},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": message_item("", status="in_progress"),
        },
        {"type": "response.content_part.added", **where, "part": part},
        {"type": "response.output_text.delta", **where, "delta": text},
        {"type": "response.output_text.done", **where, "text": text},
        {"type": "response.content_part.done", **where, "part": {**part, "text": text}},
        {"type": "response.output_item.done", "output_index": 0, "item": message_item(text)},
        {"type": "response.completed", "response": done},
    ]


def messages_stream(text: str, model: str = "vm") -> list[dict[str, Any]]:
    """What the Anthropic API sends for a one-text-block streamed Messages reply."""
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 1},
    }
    return [
        {"type": "message_start", "message": message},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 2},
        },
        {"type": "message_stop"},
    ]
