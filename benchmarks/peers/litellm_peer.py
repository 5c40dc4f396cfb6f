"""LiteLLM proxy, installed by pip into its own virtual environment under benchmarks/.peers.

Pinned to 1.106.0: later releases require a certifi newer than the package index here offers.
Offline start-up needs `LITELLM_LOCAL_MODEL_COST_MAP=True` (otherwise it tries to fetch the
model price map from GitHub, retrying with back-off) and telemetry off. Recent releases refuse
to start without a master key, so one is set and the load driver sends it; with no database the
key check is an in-memory comparison. `LITELLM_LOG=ERROR` keeps uvicorn's access log and
LiteLLM's info logging off, as every other system runs without per-request logging.

Routing: `*` passes any model to the serving upstream (`openai/<model>`); each failover model
is a deployment on a failing listener with a fallback to `bench-failover-second` on the serving
one; retries are off so a 429 goes straight to the fallback.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

VERSION = "1.106.0"
VENV = Path(__file__).resolve().parents[1] / ".peers" / "litellm-venv"
MASTER_KEY = "sk-bench-0123456789abcdef0123456789abcdef"
ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_TELEMETRY": "False",
    "LITELLM_LOG": "ERROR",
    "LITELLM_MODE": "PRODUCTION",
    "DISABLE_ADMIN_UI": "True",
}
STAMP = f"litellm[proxy]=={VERSION}"


def install(log) -> None:
    stamp = VENV / ".bench-installed"
    if stamp.exists() and stamp.read_text() == STAMP:
        return
    if not (VENV / "bin" / "python").exists():
        log(f"creating {VENV} ...")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    log(f"installing {STAMP} with pip (a few minutes the first time) ...")
    subprocess.run(
        [str(VENV / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", STAMP],
        check=True,
    )
    stamp.write_text(STAMP)


def write_config(path: Path, ok_url: str, chains: dict[str, str], second_model: str) -> None:
    """`chains`: failover model name -> URL of the failing first candidate."""
    second = "bench-failover-second"
    models = [
        {
            "model_name": "*",
            "litellm_params": {"model": "openai/*", "api_base": ok_url, "api_key": "k1"},
        },
        {
            "model_name": second,
            "litellm_params": {
                "model": f"openai/{second_model}",
                "api_base": ok_url,
                "api_key": "k1",
            },
        },
    ]
    models += [
        {
            "model_name": name,
            "litellm_params": {"model": f"openai/{second_model}", "api_base": url, "api_key": "k3"},
        }
        for name, url in chains.items()
    ]
    config = {
        "model_list": models,
        "litellm_settings": {
            "telemetry": False,
            "num_retries": 0,
            "drop_params": True,
            "request_timeout": 600,
        },
        "router_settings": {"num_retries": 0, "fallbacks": [{name: [second]} for name in chains]},
        "general_settings": {"master_key": MASTER_KEY},
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def argv(config: Path, port: int, workers: int) -> list[str]:
    return [
        str(VENV / "bin" / "litellm"),
        "--config",
        str(config),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--num_workers",
        str(workers),
        "--telemetry",
        "False",
    ]


def headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {MASTER_KEY}"}
