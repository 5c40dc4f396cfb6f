"""Chaos: bad input of every kind against a real `baton serve` process. Each gets the right 4xx in
its protocol's envelope (OpenAI's; Anthropic's on the Messages API), the server keeps serving
after each, and no secret (upstream keys, the client key) appears in any response or in any log
line, even at DEBUG."""

import json
import signal
import subprocess
from pathlib import Path

import httpx2
import trio
import yaml

from edge.simulator import Complete, Error, always, by_key
from tests.e2e.harness import (
    free_port,
    gateway_config,
    serve_command,
    start_upstreams,
    until_healthy,
)
from tests.e2e.test_cli import SECRETS

CLIENT = SECRETS[2]
MAX_BODY = 1024 * 1024


def request(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nhost: x\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in headers.items()
    )
    if body or method == "POST":
        head += f"content-length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def chat(body: bytes, key: str | None = CLIENT, **extra: str) -> bytes:
    headers = {"content-type": "application/json", **extra}
    if key is not None:
        headers["authorization"] = f"Bearer {key}"
    return request("POST", "/v1/chat/completions", headers, body)


def ask(payload: object) -> bytes:
    return chat(json.dumps(payload).encode())


HI = [{"role": "user", "content": "hi"}]
BATTERY: list[tuple[str, bytes, int, str | None]] = [
    ("malformed JSON", chat(b'{"model": "vm", "messages": [}'), 400, "invalid_request"),
    ("not an object", ask([1, 2, 3]), 400, "invalid_request"),
    ("model of the wrong type", ask({"model": 42, "messages": HI}), 400, "invalid_type"),
    ("messages of the wrong type", ask({"model": "vm", "messages": "hi"}), 400, "invalid_type"),
    ("stream of the wrong type", ask({"model": "vm", "messages": HI, "stream": "yes"}), 400, None),
    ("an empty body", chat(b""), 400, "invalid_request"),
    ("a huge body", chat(b"x" * (MAX_BODY + 1)), 413, "request_too_large"),
    ("deeply nested JSON", chat(b"[" * 200_000 + b"]" * 200_000), 400, None),
    ("invalid UTF-8", chat(b'{"model": "vm", "messages": "\xff\xfe"}'), 400, None),
    (
        "a model that would inject a header",
        ask({"model": "alpha/m\r\nx-injected: yes", "messages": HI}),
        400,
        "invalid_value",
    ),
    ("a header with a bare line feed", chat(b"{}", **{"x-a": "1\nx-injected: yes"}), 400, None),
    ("an unknown model", ask({"model": "no-such-model", "messages": HI}), 404, "model_not_found"),
    ("no key", chat(json.dumps({"model": "vm", "messages": HI}).encode(), key=None), 401, None),
    ("a wrong key", chat(b"{}", key="not-the-key"), 401, "invalid_api_key"),
    ("an upstream key as client key", chat(b"{}", key=SECRETS[0]), 401, "invalid_api_key"),
    (
        "an unknown route",
        request("GET", "/v1/nothing", {"authorization": f"Bearer {CLIENT}"}),
        404,
        None,
    ),
    (
        "a wrong method",
        request("DELETE", "/v1/chat/completions", {"authorization": f"Bearer {CLIENT}"}),
        405,
        None,
    ),
    ("not HTTP at all", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64, 400, None),
]


def messages(body: bytes, key: str | None = CLIENT, path: str = "/v1/messages") -> bytes:
    headers = {"content-type": "application/json", "anthropic-version": "2023-06-01"}
    if key is not None:
        headers["x-api-key"] = key
    return request("POST", path, headers, body)


def ask_messages(payload: object) -> bytes:
    return messages(json.dumps(payload).encode())


TURN = {"model": "vm", "max_tokens": 10, "messages": HI}
ORPHAN = [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1"}]}]
# The same hostility on the Messages API: Anthropic's envelope and error types, never OpenAI's
MESSAGES_BATTERY: list[tuple[str, bytes, int, str]] = [
    ("malformed JSON", messages(b'{"model": "vm", "messages": [}'), 400, "invalid_request_error"),
    ("not an object", ask_messages([1, 2]), 400, "invalid_request_error"),
    ("no max_tokens", ask_messages({"model": "vm", "messages": HI}), 400, "invalid_request_error"),
    (
        "max_tokens of the wrong type",
        ask_messages({**TURN, "max_tokens": "10"}),
        400,
        "invalid_request_error",
    ),
    (
        "a role Anthropic has not",
        ask_messages({**TURN, "messages": [{"role": "tool", "content": "x"}]}),
        400,
        "invalid_request_error",
    ),
    (
        "a tool_result answering nothing",
        ask_messages({**TURN, "messages": ORPHAN}),
        400,
        "invalid_request_error",
    ),
    (
        "an unknown block type",
        ask_messages({**TURN, "messages": [{"role": "user", "content": [{"type": "hologram"}]}]}),
        400,
        "invalid_request_error",
    ),
    ("deeply nested JSON", messages(b"[" * 200_000 + b"]" * 200_000), 400, "invalid_request_error"),
    (
        "invalid UTF-8",
        messages(b'{"model": "vm", "messages": "\xff\xfe"}'),
        400,
        "invalid_request_error",
    ),
    ("a huge body", messages(b"x" * (MAX_BODY + 1)), 413, "request_too_large"),
    ("an unknown model", ask_messages({**TURN, "model": "no-such-model"}), 404, "not_found_error"),
    ("no key", messages(json.dumps(TURN).encode(), key=None), 401, "authentication_error"),
    ("an upstream key as client key", messages(b"{}", key=SECRETS[0]), 401, "authentication_error"),
    (
        "count_tokens without messages",
        messages(b'{"model": "vm"}', path="/v1/messages/count_tokens"),
        400,
        "invalid_request_error",
    ),
    (
        "an unknown Messages route",
        messages(b"{}", path="/v1/messages/batches"),
        404,
        "not_found_error",
    ),
    (
        "a wrong method",
        request("GET", "/v1/messages", {"x-api-key": CLIENT}),
        405,
        "invalid_request_error",
    ),
]

# Refused by Hypercorn's HTTP parser before any route runs: a bare 400 and a closed connection
# (no protocol is known yet, so no envelope); the server serves on all the same.
HTTP_LEVEL = {"a header with a bare line feed", "not HTTP at all"}


async def exchange(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read one reply (the server closes, or the body is complete)."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        try:
            await stream.send_all(raw)
        except trio.BrokenResourceError:
            pass  # the server refused before reading everything: its reply is still there
        data = b""
        while True:
            try:
                piece = await stream.receive_some(65536)
            except trio.BrokenResourceError:
                break
            if not piece:
                break
            data += piece
            head, _, body = data.partition(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                None,
            )
            if length is not None and len(body) >= length:
                break
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


async def test_bad_input_gets_the_right_4xx_and_no_secret_leaks(tmp_path: Path) -> None:
    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            upstreams = await start_upstreams(
                nursery,
                alpha=by_key({SECRETS[0]: Error.invalid_api_key()}),
                beta=always(Complete("fine")),
            )
            document = gateway_config(
                upstreams,
                virtual_models={"vm": ["alpha/m", "beta/m"]},
                keys={"alpha": [SECRETS[0]], "beta": [SECRETS[1]]},
                server={"api_keys": [CLIENT], "max_body_bytes": MAX_BODY},
            )
            path = tmp_path / "baton.yaml"
            path.write_text(yaml.safe_dump(document))
            port = await free_port()
            process = await trio.lowlevel.open_process(
                serve_command(path, port, tmp_path / "state"),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            replies: list[bytes] = []
            try:
                async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                    await until_healthy(client)
                    good = ask({"model": "vm", "messages": HI})
                    for name, raw, status, code in BATTERY:
                        got, headers, body = await exchange(port, raw)
                        replies.append(json.dumps(headers).encode() + body)
                        assert got == status, (name, got, body)
                        assert "x-injected" not in headers, name
                        if name in HTTP_LEVEL and not body:
                            # not HTTP that Hypercorn can parse: its own 400, then a close
                            assert headers.get("connection") == "close", (name, headers)
                        else:
                            error = json.loads(body)["error"]
                            assert set(error) == {"message", "type", "param", "code"}, error
                            if code is not None:
                                assert error["code"] == code, (name, error)
                        # the server keeps serving: a good call right after each bad one
                        got, headers, body = await exchange(port, good)
                        replies.append(json.dumps(headers).encode() + body)
                        assert got == 200, (name, body)
                        assert json.loads(body)["choices"][0]["message"]["content"] == "fine"
                        assert headers["x-baton-route"].endswith("beta/m=200")
                    for name, raw, status, error_type in MESSAGES_BATTERY:
                        got, headers, body = await exchange(port, raw)
                        replies.append(json.dumps(headers).encode() + body)
                        assert got == status, (name, got, body)
                        envelope = json.loads(body)
                        assert envelope["type"] == "error", (name, envelope)
                        assert set(envelope["error"]) == {"type", "message"}, (name, envelope)
                        assert envelope["error"]["type"] == error_type, (name, envelope)
                        got, headers, body = await exchange(port, ask_messages(TURN))
                        replies.append(json.dumps(headers).encode() + body)
                        assert got == 200, (name, body)
                        assert json.loads(body)["content"][0]["text"] == "fine", name
            finally:
                process.send_signal(signal.SIGTERM)
                code = await process.wait()
            output = b""
            while chunk := await process.stdout.receive_some():
                output += chunk
            nursery.cancel_scope.cancel()
    log = output.decode()
    assert code == 0, log
    assert "baton is serving" in log and "SIGTERM received" in log
    assert len(upstreams["alpha"].calls_with_key(SECRETS[0])) == 1  # refused once, then locked
    for secret in SECRETS:  # no secret in any log line, or in any reply
        assert secret not in log
        assert all(secret.encode() not in reply for reply in replies)
