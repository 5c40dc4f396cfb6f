"""The dashboard against a whole running gateway (fake upstreams, real server, real telemetry)
in headless chromium: a call that fails over shows up on the page as it happens."""

from __future__ import annotations

import trio

from edge.simulator import Complete, Error, always
from tests.browser.chromium import Browser, needs_chromium, shows_the_failover
from tests.e2e.harness import CLIENT_KEY, launch

pytestmark = needs_chromium

CHAIN = {"coding-elite": ["alpha/m-large", "beta/m-large"]}
LIVE = "document.getElementById('status').dataset.state === 'live'"
FAILOVERS = "document.querySelector('#totals [data-total=failovers]').textContent"


async def test_the_page_shows_the_configured_gateway_and_refuses_a_wrong_key(
    browser: Browser,
) -> None:
    with trio.fail_after(40):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {"alpha": always(Complete("a")), "beta": always(Complete("b"))},
                virtual_models=CHAIN,
            )
            await browser.open(f"{gateway.url}/dashboard#key=not-the-key")
            await browser.wait("document.getElementById('status').dataset.state === 'auth-error'")
            assert "refused this key" in await browser.text("#auth-error")

            await browser.type_into("#key", CLIENT_KEY)
            await browser.wait(LIVE)
            providers = await browser.js(
                "[...document.querySelectorAll('#providers tr[data-provider]')]"
                ".map(row => row.dataset.provider)"
            )
            assert providers == ["alpha", "beta"]
            keys = await browser.js(
                "[...document.querySelectorAll('#providers [data-key]')].map(k => k.dataset.key)"
            )
            assert keys == ["alpha#1", "beta#1"]
            order = await browser.js(
                "[...document.querySelectorAll('[data-model=coding-elite] .chip')]"
                ".map(c => c.dataset.target)"
            )
            assert order == ["alpha/m-large", "beta/m-large"]
            assert await browser.text("#recent tbody") == "no calls yet"
            assert await browser.errors() == []
            await browser.js("sessionStorage.clear()")
            nursery.cancel_scope.cancel()


async def test_a_failover_shows_on_the_page_with_the_cooled_key_counting_down(
    browser: Browser,
) -> None:
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {
                    "alpha": always(Error.rate_limited(retry_after=30)),
                    "beta": always(Complete("served by beta")),
                },
                virtual_models=CHAIN,
            )
            await browser.open(f"{gateway.url}/dashboard#key={CLIENT_KEY}")
            await browser.wait(LIVE)
            assert await browser.js(FAILOVERS) == "0"

            raw = await gateway.chat("coding-elite")
            assert raw.headers["x-baton-route"] == "alpha/m-large=429,beta/m-large=200"
            async with gateway.http() as http:
                stats = (await http.get("/stats")).json()
            request_id = stats["recent"][0]["request_id"]

            call = f'#recent tr[data-request-id="{request_id}"]'
            await browser.wait(f"document.querySelector('{call}')")  # the next push, <= 1 s
            assert await browser.js(f"document.querySelector('{call}').dataset.failover") == "true"
            await shows_the_failover(browser, call)
            assert await browser.js(FAILOVERS) == "1"

            cooling = '[data-keys-of=alpha] [data-key="alpha#1"] .cooldown'
            assert await browser.js(f"document.querySelector('{cooling}').dataset.cause") == (
                "rate_limit"
            )
            left = await browser.js(
                f"Number(document.querySelector('{cooling}').dataset.until)"
                " - performance.now() / 1000"
            )
            assert 25 < left <= 30, left  # Retry-After: 30, counting down
            shown = await browser.text(cooling)
            assert shown.startswith("rate_limit · ") and " · cooling " in shown, shown
            seconds_shown = int(shown.rsplit(" ", 1)[1].rstrip("s"))
            await browser.wait(  # it counts down on the page
                f"parseInt(document.querySelector('{cooling}').textContent.split(' ').pop())"
                f" < {seconds_shown}",
                timeout=3,
            )
            assert (
                await browser.js("document.querySelector('[data-keys-of=beta] .cooldown')") is None
            )
            assert await browser.errors() == []
            path = await browser.screenshot("dashboard-failover")
            assert path.stat().st_size > 10_000
            await browser.js("sessionStorage.clear()")
            nursery.cancel_scope.cancel()
