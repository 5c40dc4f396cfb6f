"""How a provider is reached: max_connections, http2, proxy and ca_bundle, their defaults,
their errors (a proxy URL never quoted with its password) and what `baton check` shows."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from config import ConfigError, ProviderConfig, describe, load_text
from config.model import MAX_CONNECTIONS, MIB
from edge.logs import config_secrets

BASE = "providers:\n  alpha:\n    base_url: https://h/v1\n    keys: [k]\n"


def alpha(body: str = "", env: dict[str, str] | None = None) -> ProviderConfig:
    text = BASE + textwrap.indent(textwrap.dedent(body), "    ")
    return load_text(text, env=env or {}).config.providers["alpha"]


def problems(body: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        alpha(body, env)
    return [str(problem) for problem in caught.value.problems]


def test_defaults() -> None:
    provider = alpha()
    assert (provider.max_connections, provider.http2) == (MAX_CONNECTIONS, False)
    assert (provider.proxy, provider.ca_bundle) == (None, None)


def test_every_option(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not read until the client is made\n")
    provider = alpha(
        f"""
        max_connections: 32
        http2: true
        proxy: "http://user:${{PROXY_PASSWORD}}@proxy.internal:3128"
        ca_bundle: {bundle}
        """,
        env={"PROXY_PASSWORD": "sk-proxy-SECRET-1"},
    )
    assert (provider.max_connections, provider.http2) == (32, True)
    assert provider.proxy == "http://user:sk-proxy-SECRET-1@proxy.internal:3128"
    assert provider.ca_bundle == str(bundle)


def test_the_proxy_password_is_kept_out_of_reprs_and_check_output_and_known_to_the_scrubber() -> (
    None
):
    text = (
        BASE + '    proxy: "http://user:sk-proxy-SECRET-1@proxy.internal:3128"\n    http2: true\n'
    )
    loaded = load_text(text, env={})
    assert "SECRET" not in repr(loaded)
    shown = describe(loaded)
    assert "SECRET" not in shown
    assert "connection: HTTP/2 offered, via proxy http://***@proxy.internal:3128" in shown
    assert "sk-proxy-SECRET-1" in config_secrets(loaded.config)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("max_connections: 0", "providers.alpha.max_connections: must be at least 1, got 0"),
        ("http2: yes please", "providers.alpha.http2: expected true or false, got a string"),
        (
            "proxy: socks5://h:1080",
            "providers.alpha.proxy: expected an http(s) proxy URL, got 'socks5://h:1080'",
        ),
        ("proxy: 3128", "providers.alpha.proxy: expected a string, got an integer"),
        (
            "proxy: http://h:port",
            "providers.alpha.proxy: expected an http(s) proxy URL, got a malformed one",
        ),
        ("ca_bundle: /no/such/ca.pem", "providers.alpha.ca_bundle: no such file: /no/such/ca.pem"),
    ],
)
def test_mistakes_name_their_path(body: str, problem: str) -> None:
    assert problems(body) == [problem]


def test_a_wrong_proxy_url_is_quoted_without_its_password() -> None:
    [problem] = problems('proxy: "ftp://user:sk-proxy-SECRET-1@h:21"')
    assert problem == "providers.alpha.proxy: expected an http(s) proxy URL, got 'ftp://***@h:21'"


def test_the_reply_bounds_default_and_can_be_set() -> None:
    provider = alpha()
    assert (provider.max_response_bytes, provider.max_event_bytes) == (32 * MIB, MIB)
    provider = alpha("max_response_bytes: 4194304\nmax_event_bytes: 65536\n")
    assert (provider.max_response_bytes, provider.max_event_bytes) == (4 * MIB, 64 * 1024)
    shown = describe(load_text(BASE + "    max_event_bytes: 65536\n", env={}))
    assert "connection: stream events up to 65536 bytes" in shown


def test_a_reply_bound_below_1_kib_is_refused() -> None:
    assert problems("max_response_bytes: 10\nmax_event_bytes: many\n") == [
        "providers.alpha.max_response_bytes: must be at least 1024, got 10",
        "providers.alpha.max_event_bytes: expected an integer, got 'many'",
    ]
