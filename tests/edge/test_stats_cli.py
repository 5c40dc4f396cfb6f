"""`baton stats` against a real HTTP server on 127.0.0.1:0 that serves a fixed /stats and checks
the bearer: tables, JSON, key defaults, and one clear line for each way it can go wrong."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from edge.cli import main
from tests.edge.test_stats_table import documented_snapshot

KEY = "client-SECRET-key-0123456789"


class FakeGateway:
    """Answers GET /stats with `body` (and `status`) when the bearer is `KEY`; 401 otherwise."""

    def __init__(self) -> None:
        self.body: bytes = json.dumps(documented_snapshot()).encode()
        self.status = 200
        self.seen: list[tuple[str, str | None]] = []  # (path, authorization)
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                gateway.seen.append((self.path, self.headers.get("authorization")))
                if self.path != "/stats":
                    self._reply(404, b'{"error": {"message": "no such route"}}')
                elif self.headers.get("authorization") != f"Bearer {KEY}":
                    self._reply(401, b'{"error": {"message": "invalid client key"}}')
                else:
                    self._reply(gateway.status, gateway.body)

            def _reply(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    fake = FakeGateway()
    thread = threading.Thread(target=fake.server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()
        thread.join(timeout=10)


@pytest.fixture(autouse=True)
def no_key_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BATON_API_KEY", raising=False)
    monkeypatch.delenv("PROXY_API_KEY", raising=False)


def stats(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["stats", *args])
    out, err = capsys.readouterr()
    assert KEY not in out + err
    return status, out, err


def test_tables_with_the_key_given(gateway: FakeGateway, capsys: pytest.CaptureFixture) -> None:
    status, out, err = stats(capsys, "--url", gateway.url, "--key", KEY)
    assert (status, err) == (0, "")
    assert gateway.seen == [("/stats", f"Bearer {KEY}")]
    assert out.startswith("baton: up 1h 00m; 120 calls (110 ok,")
    assert "\nproviders\n" in out and "87.5% of 40" in out
    assert "model m-large 12.5s (rate_limit x2)" in out
    assert "alpha/m-large=429,beta/m-large=200" in out


def test_json_is_the_snapshot_as_served(
    gateway: FakeGateway, capsys: pytest.CaptureFixture
) -> None:
    status, out, _ = stats(capsys, "--url", gateway.url + "/", "--key", KEY, "--json")
    assert status == 0
    assert json.loads(out) == documented_snapshot()


@pytest.mark.parametrize("variable", ["BATON_API_KEY", "PROXY_API_KEY"])
def test_the_key_comes_from_the_environment(
    variable: str,
    gateway: FakeGateway,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(variable, KEY)
    status, out, _ = stats(capsys, "--url", gateway.url, "--json")
    assert status == 0 and json.loads(out)["totals"]["calls"] == 120


def test_baton_api_key_wins_over_proxy_api_key(
    gateway: FakeGateway, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATON_API_KEY", KEY)
    monkeypatch.setenv("PROXY_API_KEY", "some-other-key")
    assert stats(capsys, "--url", gateway.url)[0] == 0
    assert gateway.seen[0][1] == f"Bearer {KEY}"


def test_a_base_url_ending_in_v1_means_its_gateway(
    gateway: FakeGateway, capsys: pytest.CaptureFixture
) -> None:
    assert stats(capsys, "--url", gateway.url + "/v1", "--key", KEY)[0] == 0
    assert gateway.seen[0][0] == "/stats"


def test_a_refused_key(gateway: FakeGateway, capsys: pytest.CaptureFixture) -> None:
    status, out, err = stats(capsys, "--url", gateway.url, "--key", KEY + "-wrong")
    assert (status, out) == (1, "")
    assert err == f"baton stats: the gateway at {gateway.url}/stats refused the key (HTTP 401)\n"
    assert "wrong" not in err


def test_no_key_for_a_gateway_that_needs_one(
    gateway: FakeGateway, capsys: pytest.CaptureFixture
) -> None:
    status, _, err = stats(capsys, "--url", gateway.url)
    assert status == 1
    assert err == (
        f"baton stats: the gateway at {gateway.url}/stats needs a key"
        " (--key, or set BATON_API_KEY) (HTTP 401)\n"
    )
    assert gateway.seen == [("/stats", None)]


def test_not_json(gateway: FakeGateway, capsys: pytest.CaptureFixture) -> None:
    gateway.body = b"<html>hello</html>"
    status, out, err = stats(capsys, "--url", gateway.url, "--key", KEY)
    assert (status, out) == (1, "")
    assert (
        err
        == f"baton stats: the gateway at {gateway.url}/stats did not answer with a JSON object\n"
    )
    gateway.body = b"[1, 2]"
    assert stats(capsys, "--url", gateway.url, "--key", KEY)[2] == err


def test_a_server_error_names_its_message_without_the_key(
    gateway: FakeGateway, capsys: pytest.CaptureFixture
) -> None:
    gateway.status = 503
    gateway.body = json.dumps({"error": {"message": f"stats off\nfor {KEY}"}}).encode()
    status, _, err = stats(capsys, "--url", gateway.url, "--key", KEY)
    assert status == 1
    assert err == (
        f"baton stats: the gateway at {gateway.url}/stats answered HTTP 503: stats off for ***\n"
    )


def test_an_unreachable_gateway(capsys: pytest.CaptureFixture) -> None:
    with socket.socket() as probe:  # a port nothing listens on once this is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    status, out, err = stats(capsys, "--url", f"http://127.0.0.1:{port}", "--key", KEY)
    assert (status, out) == (1, "")
    assert err.startswith(
        f"baton stats: cannot reach the gateway at http://127.0.0.1:{port}/stats: "
    )
    assert err.count("\n") == 1


def test_a_url_that_is_not_one(capsys: pytest.CaptureFixture) -> None:
    status, _, err = stats(capsys, "--url", "ftp://user:pw@host", "--key", KEY)
    assert status == 1
    assert err.startswith("baton stats: cannot reach the gateway at ftp://***@host/stats: ")
    assert "pw" not in err and err.count("\n") == 1


def test_the_installed_command(gateway: FakeGateway) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "edge.cli", "stats", "--url", gateway.url],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "BATON_API_KEY": KEY},
    )
    assert result.returncode == 0, result.stderr
    assert "coding-elite  priority  alpha/m-large, beta/m-large" in result.stdout
    assert KEY not in result.stdout + result.stderr


def test_a_key_that_cannot_be_a_header(capsys: pytest.CaptureFixture) -> None:
    status, _, err = stats(capsys, "--url", "http://127.0.0.1:9", "--key", "ключ-SECRET\n")
    assert status == 1
    assert err == "baton stats: the key is not printable ASCII, so it cannot be sent as a bearer\n"
