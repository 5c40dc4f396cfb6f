"""The dashboard page in a real headless chromium, fed the documented `/stats` example through
the real dashboard routes: what it shows, how it asks for a key, how it recovers."""

from __future__ import annotations

import copy
from typing import Any

import trio

from tests.browser.chromium import Browser, needs_chromium, shows_the_failover
from tests.browser.served import CLIENT_KEY, dashboard_server
from tests.browser.stats_doc import documented_snapshot, ticking

pytestmark = needs_chromium

LIVE = "document.getElementById('status').dataset.state === 'live'"


async def test_the_page_shows_what_the_snapshot_holds(browser: Browser) -> None:
    with trio.fail_after(40):
        async with dashboard_server(ticking(documented_snapshot()), interval=0.5) as served:
            await browser.open(f"{served.url}/dashboard#key={CLIENT_KEY}")
            await browser.wait(LIVE)
            assert await browser.js("location.hash") == ""  # the key is not left in view
            assert await browser.js("sessionStorage.getItem('baton.key')") == CLIENT_KEY

            assert await browser.text("#totals [data-total=failovers]") == "14"
            assert await browser.text("#totals [data-total=failed]") == "6"
            assert await browser.text("#totals [data-total=cost_usd]") == "$0.0123"
            alpha = "#providers tr[data-provider=alpha]"
            assert await browser.text(f"{alpha} .badge[data-health=up]") == "up"
            row = await browser.text(alpha)
            assert "87.5%" in row and "380 ms / 900 ms" in row and "410 ms" in row
            assert "1,000 / 2,000" in row and "$0.0040" in row

            key = await browser.text('[data-keys-of=alpha] [data-key="alpha#1"]')
            assert (
                " ".join(key.split())
                == "alpha#1 1 in flight · 18/20 ok rate_limit · model m-large · cooling 13s"
            )

            models = await browser.js(
                "[...document.querySelectorAll('#virtual-models [data-model=coding-elite] .chip')]"
                ".map(c => c.dataset.target)"
            )
            assert models == ["beta/m-large", "alpha/m-large"]

            call = '#recent tr[data-request-id="req_…"]'
            assert await browser.js(f"document.querySelector('{call}').dataset.failover") == "true"
            await shows_the_failover(browser, call)

            # three calls a push, a push every simulated second: 3.0 calls/s, drawn
            await browser.wait(
                "document.getElementById('throughput').textContent === '3.0 calls/s'"
            )
            await browser.wait(  # a line from the second rate on: some pixel not transparent
                "(() => { const c = document.getElementById('sparkline');"
                " const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
                " return px.some((v, i) => i % 4 === 3 && v > 0); })()"
            )
            assert await browser.errors() == []
            await browser.screenshot("dashboard-documented")


async def test_cooldowns_count_down_between_pushes_and_resync_on_each(browser: Browser) -> None:
    cooling = '[data-key="alpha#1"] .cooldown'
    shows = f"document.querySelector('{cooling}').textContent.endsWith"
    with trio.fail_after(40):
        async with dashboard_server(documented_snapshot, interval=4.0) as served:
            await browser.open(f"{served.url}/dashboard#key={CLIENT_KEY}")
            await browser.wait(f"{shows}('cooling 13s')")  # 12.5 s left, rounded up
            started = trio.current_time()
            # 11 s shows 1.5-2.5 s after a push, before the next one
            await browser.wait(f"{shows}('cooling 11s')", timeout=6.0)
            assert trio.current_time() - started >= 1.0  # a second a tick, no faster
            await browser.wait(f"{shows}('cooling 13s')", timeout=6.0)  # the next push


async def test_a_wrong_key_shows_an_auth_error_and_the_right_one_gets_in(
    browser: Browser,
) -> None:
    with trio.fail_after(40):
        async with dashboard_server(documented_snapshot) as served:
            await browser.open(f"{served.url}/dashboard#key=not-the-key")
            await browser.wait("document.getElementById('status').dataset.state === 'auth-error'")
            assert await browser.js("document.getElementById('auth').hidden") is False
            error = await browser.text("#auth-error")
            assert "refused this key" in error and "unauthorized: wrong key" in error
            assert await browser.js("document.querySelectorAll('#providers [data-provider]')") == []
            await browser.screenshot("dashboard-auth-error")

            await browser.type_into("#key", CLIENT_KEY)
            await browser.wait(LIVE)
            assert await browser.js("document.getElementById('auth').hidden") is True
            assert await browser.text("#auth-error") == ""
            assert await browser.text("#providers tr[data-provider=alpha] td") == "alpha"
            assert await browser.js("sessionStorage.getItem('baton.key')") == CLIENT_KEY
            await browser.js("sessionStorage.clear()")


async def test_the_page_reconnects_when_the_socket_drops(browser: Browser) -> None:
    base = documented_snapshot()
    pushes = 0

    def snapshot() -> dict[str, Any]:
        nonlocal pushes
        pushes += 1
        if pushes == 2:  # the gateway drops the feed once: code 1011
            raise RuntimeError("a snapshot that fails once")
        data = copy.deepcopy(base)
        data["totals"]["failovers"] = pushes
        return data

    with trio.fail_after(40):
        async with dashboard_server(snapshot, interval=0.3) as served:
            await browser.open(f"{served.url}/dashboard#key={CLIENT_KEY}")
            await browser.wait("document.getElementById('status').dataset.state === 'disconnected'")
            assert (await browser.text("#status")).startswith("disconnected: retrying in")
            await browser.wait(LIVE)  # about a second later
            await browser.wait(
                "Number(document.querySelector('[data-total=failovers]').textContent) >= 3"
            )
            assert await browser.errors() == []


async def test_names_from_config_and_clients_are_shown_as_text_never_as_markup(
    browser: Browser,
) -> None:
    hostile = "<img src=x onerror=\"document.title='owned'\">"
    data = documented_snapshot()
    data["providers"] = {hostile: data["providers"]["alpha"]}
    call = data["recent"][0]
    call.update(model=hostile, request_id=hostile, route=f"{hostile}=429,b/m=200")
    with trio.fail_after(40):
        async with dashboard_server(lambda: data) as served:
            await browser.open(f"{served.url}/dashboard#key={CLIENT_KEY}")
            await browser.wait(LIVE)
            assert await browser.js("document.querySelectorAll('main img').length") == 0
            assert await browser.js("document.title") == "baton dashboard"
            assert (await browser.text("#providers tbody td")) == hostile
            row = await browser.js(
                "document.querySelector('#recent tr[data-request-id]').dataset.requestId"
            )
            assert row == hostile
            hops = await browser.js(
                "[...document.querySelectorAll('#recent .hop')].map(h => h.textContent)"
            )
            assert hops == [f"{hostile} 429", "b/m 200"]
