"""`baton serve` as a real process, as it is deployed: over HTTPS with `--certfile/--keyfile`
(HTTP/2 by ALPN), refusing half a TLS configuration, and as `--workers 2` (two processes on one
port, both serving)."""

from __future__ import annotations

import signal
import ssl
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
import trio
import trustme
import yaml

from edge.simulator import Complete, always
from tests.e2e.harness import (
    BATON,
    CLIENT_KEY,
    free_port,
    gateway_config,
    in_thread,
    serve_command,
    start_upstreams,
    until_healthy,
)

HI = [{"role": "user", "content": "hi"}]


def write_config(tmp_path: Path, upstreams: dict[str, Any]) -> Path:
    path = tmp_path / "baton.yaml"
    path.write_text(yaml.safe_dump(gateway_config(upstreams, virtual_models={"vm": ["alpha/m"]})))
    return path


@asynccontextmanager
async def baton_serve(tmp_path: Path, config: Path, *flags: str) -> AsyncIterator[int]:
    """`baton serve` with `flags` on a free port until the block ends, then SIGTERM; it must
    exit 0. Its log goes to tmp_path/baton.log (a file: a pipe nobody reads would fill)."""
    port = await free_port()
    with (tmp_path / "baton.log").open("wb") as log:
        process = await trio.lowlevel.open_process(
            serve_command(config, port, tmp_path / "state", *flags),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield port
        finally:
            process.send_signal(signal.SIGTERM)
            with trio.move_on_after(30):
                code = await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()
    output = (tmp_path / "baton.log").read_text()
    assert code == 0, output


@pytest.fixture
def tls(tmp_path: Path) -> tuple[Path, Path, ssl.SSLContext]:
    """A certificate for 127.0.0.1 from a throwaway CA: (certfile, keyfile, a context that
    trusts it)."""
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    issued.private_key_and_cert_chain_pem.write_to_path(str(certfile))
    issued.private_key_pem.write_to_path(str(keyfile))
    trust = ssl.create_default_context()
    ca.configure_trust(trust)
    return certfile, keyfile, trust


async def test_serve_with_a_certificate_answers_https_and_http2(
    tmp_path: Path, tls: tuple[Path, Path, ssl.SSLContext]
) -> None:
    certfile, keyfile, trust = tls

    def chat(port: int) -> str | None:
        with openai.OpenAI(
            base_url=f"https://127.0.0.1:{port}/v1",
            api_key=CLIENT_KEY,
            max_retries=0,
            http_client=httpx2.Client(verify=trust, timeout=10),
        ) as client:
            reply = client.chat.completions.create(model="vm", messages=HI)
            return reply.choices[0].message.content

    with trio.fail_after(90):
        async with trio.open_nursery() as nursery:
            upstreams = await start_upstreams(nursery, alpha=always(Complete("over https")))
            config = write_config(tmp_path, upstreams)
            flags = ("--certfile", str(certfile), "--keyfile", str(keyfile))
            async with baton_serve(tmp_path, config, *flags) as port:
                url = f"https://127.0.0.1:{port}"
                async with httpx2.AsyncClient(
                    base_url=url,
                    verify=trust,
                    http2=True,
                    headers={"authorization": f"Bearer {CLIENT_KEY}"},
                ) as http:
                    await until_healthy(http)
                    models = await http.get("/v1/models")
                    assert await in_thread(chat, port) == "over https"
                with pytest.raises(httpx2.RemoteProtocolError):  # no plain HTTP on that port
                    async with httpx2.AsyncClient() as plain:
                        await plain.get(f"http://127.0.0.1:{port}/health")
            nursery.cancel_scope.cancel()
    assert (models.http_version, models.status_code) == ("HTTP/2", 200)
    assert "https://127.0.0.1:" in (tmp_path / "baton.log").read_text()


@pytest.mark.parametrize("given", ["--certfile", "--keyfile"])
def test_half_a_tls_configuration_is_refused(tmp_path: Path, given: str) -> None:
    config = tmp_path / "baton.yaml"
    config.write_text(yaml.safe_dump(gateway_config({}, server={"api_keys": [CLIENT_KEY]})))
    (tmp_path / "some.pem").write_text("")
    result = subprocess.run(
        [
            *BATON,
            "serve",
            "--config",
            str(config),
            "--port",
            "0",
            given,
            str(tmp_path / "some.pem"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "baton: --certfile and --keyfile go together" in result.stderr


async def test_two_workers_both_serve(tmp_path: Path) -> None:
    """Calls on fresh connections are spread over the two processes by the kernel; each
    worker's /stats lists only the calls it served, so two different lists show both did."""
    with trio.fail_after(90):
        async with trio.open_nursery() as nursery:
            upstreams = await start_upstreams(nursery, alpha=always(Complete("from a worker")))
            config = write_config(tmp_path, upstreams)
            async with baton_serve(tmp_path, config, "--workers", "2") as port:
                url = f"http://127.0.0.1:{port}"
                headers = {"authorization": f"Bearer {CLIENT_KEY}"}
                async with httpx2.AsyncClient(base_url=url) as probe:
                    await until_healthy(probe)
                seen: set[tuple[str, ...]] = set()
                served = 0
                for attempt in range(60):
                    # a fresh connection for each, so either process may accept it
                    async with httpx2.AsyncClient(base_url=url, headers=headers) as http:
                        body = {"model": "vm", "messages": HI}
                        call = await http.post(
                            "/v1/chat/completions",
                            json=body,
                            headers={"x-request-id": f"call-{attempt}"},
                        )
                        assert call.json()["choices"][0]["message"]["content"] == "from a worker"
                        served += 1
                    async with httpx2.AsyncClient(base_url=url, headers=headers) as http:
                        recent = (await http.get("/stats")).json()["recent"]
                        seen.add(tuple(sorted(line["request_id"] for line in recent)))
                    if served >= 4 and _two_workers(seen):
                        break
            nursery.cancel_scope.cancel()
    assert _two_workers(seen), seen
    log = (tmp_path / "baton.log").read_text()
    assert "with 2 workers" in log


def _two_workers(seen: set[tuple[str, ...]]) -> bool:
    """Two /stats answers whose call lists are disjoint and non-empty: two processes."""
    lists = [set(calls) for calls in seen if calls]
    return any(a.isdisjoint(b) for a in lists for b in lists if a is not b)
