"""A real headless chromium for the dashboard tests, driven by selenium through chromedriver.

Both come from Debian (`chromium`, `chromium-driver`); README's test command installs them
when missing. Given chromedriver's path and chromium's binary, selenium-manager never looks
for (or downloads) a browser of its own. Selenium is synchronous, so every call runs in a
worker thread and the gateway under test keeps serving on the trio loop; waits poll in the
browser with a timeout shorter than the tests' `fail_after`.
"""

from __future__ import annotations

import functools
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import trio

T = TypeVar("T")
OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "browser"
WAIT = 10.0  # seconds a condition may take to show in the page


def _find(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


CHROMIUM = _find("chromium", "chromium-browser")
CHROMEDRIVER = _find("chromedriver")
try:
    import selenium  # noqa: F401

    _HAVE_SELENIUM = True
except ImportError:  # pragma: no cover: it is in the test extra
    _HAVE_SELENIUM = False

MISSING = (
    "no chromium: install Debian's chromium and chromium-driver (README's test command does)"
    if CHROMIUM is None or CHROMEDRIVER is None
    else "no selenium: pip install -e '.[test]'"
    if not _HAVE_SELENIUM
    else None
)
needs_chromium = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


class Browser:
    """One headless chromium window; its methods are awaitable and run selenium in a thread."""

    def __init__(self) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM or ""
        for argument in (
            "--headless=new",
            "--no-sandbox",  # the tests may run as root (CI does), where the sandbox refuses
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--window-size=1280,1000",
            "--lang=en-US",
        ):
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER or ""), options=options)

    def quit(self) -> None:
        self.driver.quit()

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        return await trio.to_thread.run_sync(
            functools.partial(function, *args), abandon_on_cancel=True
        )

    async def open(self, url: str) -> None:
        await self._run(self.driver.get, url)

    async def js(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        return await self._run(self.driver.execute_script, f"return ({expression});")

    async def wait(self, expression: str, timeout: float = WAIT) -> Any:
        """Poll a JavaScript expression until it is truthy; its value. Fails with the
        expression and the page's status line if it never is."""
        from selenium.common.exceptions import JavascriptException, TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        def poll() -> Any:  # a script error (no such element yet) counts as not yet
            waiting = WebDriverWait(
                self.driver, timeout, poll_frequency=0.1, ignored_exceptions=[JavascriptException]
            )
            try:
                return waiting.until(lambda d: d.execute_script(f"return ({expression});"))
            except TimeoutException:
                status = self.driver.execute_script(
                    "const s = document.getElementById('status'); return s && s.textContent;"
                )
                raise AssertionError(f"never true: {expression} (status: {status!r})") from None

        return await self._run(poll)

    async def text(self, selector: str) -> str:
        """The rendered text of the first element matching a CSS selector, read in one script
        (the page re-renders on every push: an element found in one call may be gone in the
        next)."""
        found = await self.js(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " return e === null ? null : e.innerText; })()"
        )
        assert found is not None, f"no element matches {selector}"
        return found

    async def type_into(self, selector: str, text: str, submit: bool = True) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys

        def type_() -> None:
            field = self.driver.find_element(By.CSS_SELECTOR, selector)
            field.send_keys(text + (Keys.ENTER if submit else ""))

        await self._run(type_)

    async def screenshot(self, name: str) -> Path:
        OUTPUT.mkdir(parents=True, exist_ok=True)
        path = OUTPUT / f"{name}.png"

        def shoot() -> None:  # the whole page, not just the window
            height = self.driver.execute_script("return document.documentElement.scrollHeight")
            self.driver.set_window_size(1280, max(1000, int(height) + 20))
            assert self.driver.save_screenshot(str(path)), path

        await self._run(shoot)
        return path

    async def errors(self) -> list[str]:
        """What the page logged as errors (script errors, CSP violations) since last asked."""

        def read() -> list[str]:
            entries = self.driver.get_log("browser")
            return [entry["message"] for entry in entries if entry["level"] == "SEVERE"]

        return await self._run(read)


async def shows_the_failover(browser: Browser, call: str) -> None:
    """The recent-calls row `call` (a selector) shows alpha's 429 hop as failed and beta's as
    the one that served: the failover both the fed and the live tests make."""
    hops = await browser.js(
        f"[...document.querySelectorAll('{call} .hop')]"
        ".map(h => [h.dataset.target, h.dataset.mark, h.className])"
    )
    assert hops == [
        ["alpha/m-large", "429", "hop failed"],
        ["beta/m-large", "200", "hop served"],
    ]
    assert await browser.text(f'{call} [data-field="provider"]') == "beta"
