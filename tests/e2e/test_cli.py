"""The `baton` command as a user runs it: a real process, real signals, real output."""

import os
import signal
import subprocess
from pathlib import Path

import openai
import trio
import yaml

from edge.simulator import Complete, Error, always
from tests.e2e.harness import (
    BATON,
    free_port,
    gateway_config,
    in_thread,
    serve_command,
    start_upstreams,
)

SECRETS = ("sk-alpha-SECRET-0123456789", "sk-beta-SECRET-9876543210", "client-SECRET-key-42")


def run_baton(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*BATON, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )


def test_check_names_an_unset_variable_by_its_path(tmp_path: Path) -> None:
    path = tmp_path / "baton.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "providers": {
                    "alpha": {"base_url": "http://127.0.0.1:9/v1", "keys": ["${ALPHA_ONLY_KEY}"]}
                },
                "virtual_models": {"vm": {"chain": ["alpha/m"]}},
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if k != "ALPHA_ONLY_KEY"}
    result = subprocess.run(
        [*BATON, "check", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode != 0
    assert "providers.alpha.keys[0]: ALPHA_ONLY_KEY is not set" in result.stderr


def test_check_names_an_unknown_provider_in_a_chain(tmp_path: Path) -> None:
    path = tmp_path / "baton.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "providers": {"alpha": {"base_url": "http://127.0.0.1:9/v1", "keys": ["k"]}},
                "virtual_models": {"coding-elite": {"chain": ["alpha/m", "beta/m-large"]}},
            }
        )
    )
    result = run_baton("check", "--config", str(path))
    assert result.returncode != 0
    assert "virtual_models.coding-elite.chain[1]: unknown provider 'beta'" in result.stderr


def test_check_prints_the_resolved_config_without_secrets(tmp_path: Path) -> None:
    path = tmp_path / "baton.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "server": {"api_keys": ["${CLIENT_KEY}"]},
                "providers": {
                    "alpha": {
                        "base_url": "http://127.0.0.1:9/v1",
                        "keys": [SECRETS[0], "${BETA_KEY}"],
                        "models": ["m"],
                    }
                },
                "virtual_models": {"vm": {"chain": ["alpha/m"]}},
            }
        )
    )
    (tmp_path / ".env").write_text(f"BETA_KEY={SECRETS[1]}\nCLIENT_KEY={SECRETS[2]}\n")
    result = run_baton("check", "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert "alpha" in result.stdout and "vm" in result.stdout and "BETA_KEY" in result.stdout
    for secret in SECRETS:
        assert secret not in result.stdout + result.stderr


async def test_serve_answers_the_openai_client_and_stops_on_sigterm(tmp_path: Path) -> None:
    with trio.fail_after(90):
        async with trio.open_nursery() as nursery:
            upstreams = await start_upstreams(
                nursery,
                alpha=always(Error.rate_limited(retry_after=30)),
                beta=always(Complete("served by a real process")),
            )
            document = gateway_config(
                upstreams,
                virtual_models={"vm": ["alpha/m", "beta/m"]},
                keys={"alpha": [SECRETS[0]], "beta": [SECRETS[1]]},
                server={"api_keys": [SECRETS[2]]},
            )
            path = tmp_path / "baton.yaml"
            path.write_text(yaml.safe_dump(document))
            port = await free_port()
            data_dir = tmp_path / "state"
            process = await trio.lowlevel.open_process(
                serve_command(path, port, data_dir),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            try:
                client = openai.OpenAI(
                    base_url=f"http://127.0.0.1:{port}/v1",
                    api_key=SECRETS[2],
                    max_retries=0,
                    timeout=10,
                )
                with client:
                    raw = None
                    for _ in range(600):  # until the process is up (slow on a loaded box)
                        try:
                            raw = await in_thread(
                                client.chat.completions.with_raw_response.create,
                                model="vm",
                                messages=[{"role": "user", "content": "hi"}],
                            )
                            break
                        except openai.APIConnectionError:
                            await trio.sleep(0.1)
                    assert raw is not None
                    assert raw.parse().choices[0].message.content == "served by a real process"
                    assert raw.headers["x-baton-route"] == "alpha/m=429,beta/m=200"
                    with openai.OpenAI(
                        base_url=f"http://127.0.0.1:{port}/v1", api_key="wrong", max_retries=0
                    ) as intruder:
                        try:
                            await in_thread(intruder.models.list)
                        except openai.AuthenticationError:
                            pass
                        else:
                            raise AssertionError("a wrong key was accepted")
                assert data_dir.is_dir()
            finally:
                process.send_signal(signal.SIGTERM)
                code = await process.wait()
            output = b""
            while chunk := await process.stdout.receive_some():
                output += chunk
            log = output.decode()
            assert code == 0, log
            assert "SIGTERM received" in log
            for secret in SECRETS:
                assert secret not in log
            nursery.cancel_scope.cancel()


def test_demo_once_shows_failover() -> None:
    result = run_baton("demo", "--once", "--port", "0")
    assert result.returncode == 0, result.stderr
    assert "flaky/demo-large=429,broken/demo-large=500,steady/demo-large=200" in result.stdout
    assert "flaky/demo-large=cooling" in result.stdout
    assert "curl -i http://127.0.0.1:" in result.stdout
