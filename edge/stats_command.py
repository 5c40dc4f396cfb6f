"""`baton stats`: fetch a running gateway's `/stats` and print it as tables (or as JSON).

Defaults: the local gateway (`http://127.0.0.1:8080`; a base URL ending in `/v1` is taken to
mean its gateway) and the client key from `$BATON_API_KEY`, else `$PROXY_API_KEY` (none: no
`Authorization` header, for an open gateway). Anything that goes wrong (the gateway cannot be
reached, refuses the key, answers with something other than a JSON object) is one line on
stderr and exit status 1. The key is never printed; nor is a password in the URL.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import httpx2

from config.urls import redact_url
from edge.stats_table import render
from protocols.redact import scrub

DEFAULT_URL = "http://127.0.0.1:8080"
KEY_VARIABLES = ("BATON_API_KEY", "PROXY_API_KEY")
TIMEOUT = 10.0


class StatsError(Exception):
    """Why the statistics could not be had, in one line fit for a terminal."""


def default_key(env: Mapping[str, str]) -> str | None:
    return next((env[name] for name in KEY_VARIABLES if env.get(name)), None)


def stats_url(base: str) -> str:
    base = base.strip().rstrip("/")
    if base.endswith("/v1"):
        base = base[: -len("/v1")]
    return base + "/stats"


def fetch_stats(base: str, key: str | None, *, timeout: float = TIMEOUT) -> dict[str, Any]:
    """The decoded `/stats` object of the gateway at `base`. Raises `StatsError`."""
    url = stats_url(base)
    shown = redact_url(url)
    headers = {"accept": "application/json"}
    if key:
        if not (key.isascii() and key.isprintable()):
            raise StatsError("the key is not printable ASCII, so it cannot be sent as a bearer")
        headers["authorization"] = f"Bearer {key}"
    try:
        response = httpx2.get(url, headers=headers, timeout=timeout, trust_env=False)
    except httpx2.TimeoutException:
        raise StatsError(f"the gateway at {shown} did not answer within {timeout:g}s") from None
    except (httpx2.TransportError, httpx2.InvalidURL, ValueError) as exc:
        reason = scrub(str(exc), [key]) or type(exc).__name__
        raise StatsError(f"cannot reach the gateway at {shown}: {reason}") from None
    if response.status_code == 401:
        hint = "refused the key" if key else "needs a key (--key, or set BATON_API_KEY)"
        raise StatsError(f"the gateway at {shown} {hint} (HTTP 401)")
    if response.status_code == 404:
        raise StatsError(f"the gateway at {shown} has no /stats (HTTP 404): is it baton?")
    if response.status_code != 200:
        detail = scrub(_error_message(response.content), [key])
        raise StatsError(
            f"the gateway at {shown} answered HTTP {response.status_code}"
            + (f": {detail}" if detail else "")
        )
    try:
        snapshot = json.loads(response.content)
    except ValueError:
        snapshot = None
    if not isinstance(snapshot, dict):
        raise StatsError(f"the gateway at {shown} did not answer with a JSON object")
    return snapshot


def run_stats(
    url: str,
    key: str | None,
    as_json: bool,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """The command: print the tables (or the JSON) and return the exit status."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        snapshot = fetch_stats(url, key)
    except StatsError as problem:
        print(f"baton stats: {problem}", file=err)
        return 1
    out.write(json.dumps(snapshot, indent=2) + "\n" if as_json else render(snapshot))
    return 0


def key_from_environment() -> str | None:
    return default_key(os.environ)


def _error_message(body: bytes) -> str:
    """The message of an OpenAI error envelope, else nothing (one line, at most 200 chars)."""
    try:
        envelope = json.loads(body)
    except ValueError:
        return ""
    error = envelope.get("error") if isinstance(envelope, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    if not isinstance(message, str):
        return ""
    return " ".join(message.split())[:200]
